using Microsoft.Extensions.Options;

namespace Chat.Host;

/// <summary>
/// The command line: an optional role word, --help, and configuration overrides that the .NET
/// configuration system reads (<c>--Chat:Store:Path=/var/lib/chat/chat.db</c>).
/// </summary>
public static class CommandLine
{
    public const string HelpText = """
        chat - anonymous stranger chat server

        Usage:
          chat [all] [--key=value ...]     all-in-one: broker + logic + SQLite + web client (default)
          chat broker [--key=value ...]    a broker of a cluster: WebSockets and the web client for
                                           clients, the Broker gRPC service for logic's pushes; finds
                                           logic nodes in etcd (Chat:Cluster:Etcd) or a fixed list
                                           (Chat:Cluster:LogicAddresses); keeps nothing that matters
          chat logic [--key=value ...]     a logic node of a cluster: an Orleans silo (membership and
                                           state in the shared database), the LogicDealer gRPC
                                           service for brokers; registers itself in etcd
          chat admin-token NAME            print a new operator token for NAME and the setting that
                                           lets it in (the operator API: docs/operators.md)
          chat --help                      show this text

        The broker and logic roles talk to each other over gRPC: over TLS with certificates from the
        cluster's CA (--Chat:Cluster:Tls:CertificatePath=, KeyPath=, CaPath=; deploy/cluster-certs.sh
        makes them), or, on loopback only, plaintext with the cluster's shared secret (at least 32
        bytes: Chat__Cluster__Secret in the environment, or --Chat:Cluster:SecretFile=FILE).
        A node whose gRPC or silo port is beyond loopback without TLS does not start unless given
        --insecure. Their gRPC address: --Chat:Cluster:GrpcUrl=https://10.0.0.5:18225 for a broker,
        :18223 for logic (http:// without TLS); --urls is then their HTTP/1.1 port (web client and
        WebSocket on a broker; /healthz, /readyz and /metrics on both). See README.md, "Running a cluster".

        Every setting can come from appsettings.json, from an environment variable
        (replace ':' with '__', e.g. Chat__Store__Path=/data/chat.db) or from the command
        line (--Chat:Store:Path=/data/chat.db). The most used:

          --urls=http://127.0.0.1:18224         where HTTP and the WebSocket listen
          --store sqlite|mariadb|memory         (Chat:Store:Kind) sqlite: one node; mariadb: shared by a
                                                cluster; memory keeps nothing
          --data ./data/chat.db                 (Chat:Store:Path) SQLite data file
          Chat__Store__ConnectionString=...     MariaDB: Server=..;Port=..;User=..;Password=..;Database=..
                                                (by environment or Chat:Store:ConnectionStringFile, not
                                                on the command line, where ps shows the password)
          --Chat:Store:Retention=1.00:00:00     how long ended chats and gone accounts are kept (0 = for ever)
          --Chat:Store:Synchronous=FULL|NORMAL  FULL survives power loss; NORMAL a process crash
          --Chat:Broker:Path=/ws                WebSocket path
          --Chat:Broker:PingInterval=00:00:03   server PING_REQ interval
          --Chat:Broker:SilenceTimeout=00:00:20 silent socket counts as gone after this
          --Chat:Broker:MaxFrameBytes=16384     largest client frame
          --Chat:Broker:AllowedOrigins:0=https://chat.example.org
                                                browser origins allowed (default: same host; * = any)
          --Chat:Broker:RateLimit:PerSecond=20  frames per second per socket (burst: RateLimit:Burst)
          --Chat:Logic:MaxContentLength=1000    longest message in characters
          --Chat:Logic:GracePeriod=00:00:30     how long a dropped account keeps its chats
          --Chat:Limits:SocketsPerAddress=30    sockets one address may hold (0 = no limit); the other
                                                limits and the bot challenge: README, "Running it in public"
          --Chat:Cluster:TrustedProxies=127.0.0.1
                                                behind nginx: the proxy whose X-Forwarded-For is believed

        See README.md for the full table.

        """;

    private static readonly string[] Roles = ["all", "broker", "logic"];

    /// <summary>The switch that lets a node talk plaintext to the others beyond loopback (<c>Chat:Cluster:Insecure=true</c>); it takes no value.</summary>
    public const string Insecure = "--insecure";

    /// <summary>The arguments as the configuration reads them: <c>--insecure</c>, a switch without a value, made <c>--Chat:Cluster:Insecure=true</c>.</summary>
    public static string[] Expanded(string[] args) =>
        [.. args.Select(arg => string.Equals(arg, Insecure, StringComparison.OrdinalIgnoreCase) ? "--Chat:Cluster:Insecure=true" : arg)];

    /// <summary>Short switches for the settings people change most.</summary>
    public static readonly Dictionary<string, string> Shorthands = new(StringComparer.OrdinalIgnoreCase)
    {
        ["--store"] = "Chat:Store:Kind",
        ["--data"] = "Chat:Store:Path",
    };

    /// <summary>
    /// The one line that says why a start was refused: a setting wrong or missing (several refused at once
    /// are joined), a file that cannot be read, a port that is taken; null for anything else (a bug, whose stack trace helps).
    /// </summary>
    public static string? Refusal(Exception ex) => ex switch
    {
        AggregateException aggregate when aggregate.InnerExceptions.All(inner => Refusal(inner) is not null) =>
            string.Join(" ", aggregate.InnerExceptions.Select(inner => Refusal(inner))),
        OptionsValidationException validation => string.Join(" ", validation.Failures.Select(failure => failure.TrimEnd('.') + ".")),
        InvalidOperationException or IOException => ex.Message,
        System.Data.Common.DbException => $"the store cannot be opened ({ex.Message}): is the database running and reachable? Chat:Store:ConnectionString names it.",
        System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressNotAvailable } =>
            $"an address to listen on is not one of this machine's ({ex.Message}): check --urls, Chat:Cluster:GrpcUrl and Chat:Silo:ListenAddress.",
        _ => null,
    };

    /// <summary><c>chat admin-token NAME</c>: a new operator token and the configuration line that holds its hash.</summary>
    public static int PrintAdminToken(string[] args, TextWriter output, TextWriter error)
    {
        if (args is not [var name] || name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            error.WriteLine("chat: usage: chat admin-token NAME (NAME: letters, digits, '-', '_' or '.', at most 64; the audit log records it)");
            return 2;
        }

        var (token, line) = Chat.Logic.Moderation.OperatorOptions.NewToken(name);
        output.WriteLine($"Token for operator {name} (shown once; the server keeps only its hash):");
        output.WriteLine();
        output.WriteLine($"  {token}");
        output.WriteLine();
        output.WriteLine("Add this line to the environment of every process that runs logic (all-in-one, logic nodes):");
        output.WriteLine();
        output.WriteLine($"  {line}");
        output.WriteLine();
        var hash = line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..];
        output.WriteLine("or in appsettings.json: \"Chat\": { \"Operator\": { \"Tokens\": { \"" + name + "\": \"" + hash + "\" } } }");
        output.WriteLine("Then call the API with: Authorization: Bearer <token> (docs/operators.md).");
        return 0;
    }

    public static bool WantsHelp(string[] args) => args.Any(a => a is "--help" or "-h" or "-?" or "help");

    /// <summary>A first argument that is a word but not a role we have.</summary>
    public static string? UnknownRole(string[] args) =>
        args.Length > 0 && !args[0].StartsWith('-') && !args[0].Contains('=') && !Roles.Contains(args[0]) ? args[0] : null;

    public static string[] WithoutRole(string[] args) => args.Length > 0 && Roles.Contains(args[0]) ? args[1..] : args;

    public static ChatRole RoleOf(string[] args) => args.Length > 0 ? args[0] switch
    {
        "broker" => ChatRole.Broker,
        "logic" => ChatRole.Logic,
        _ => ChatRole.All,
    } : ChatRole.All;
}
