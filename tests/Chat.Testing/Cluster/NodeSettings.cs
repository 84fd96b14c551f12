namespace Chat.Testing.Cluster;

/// <summary>
/// The settings each node of a cluster on this machine starts with (the local cluster's and the
/// tests' alike), in <c>Key:Sub=value</c> form (passed as <c>--Key:Sub=value</c>). compose.yaml
/// gives its nodes the same ones: deploy/compose/check-in-step.py reads this file and says where
/// they differ. Secrets are named by file, never given on a command line, where ps shows them.
/// </summary>
public static class NodeSettings
{
    /// <summary>Where logic nodes register in etcd (the default of <c>Chat:Cluster:EtcdPrefix</c>, the seed's).</summary>
    public const string EtcdPrefix = "services/logic/";

    /// <summary>Where a node listens, on <paramref name="host"/> (127.0.0.1, or a network namespace's address in the fault tests): HTTP/1.1 (web client, /ws, health, metrics) and gRPC (https:// with TLS).</summary>
    public static string[] Ports(string host, int httpPort, int grpcPort, bool tls) =>
    [
        $"urls=http://{host}:{httpPort}",
        $"Chat:Cluster:GrpcUrl={(tls ? "https" : "http")}://{host}:{grpcPort}",
    ];

    /// <summary>The same on 127.0.0.1.</summary>
    public static string[] Ports(int httpPort, int grpcPort, bool tls) => Ports("127.0.0.1", httpPort, grpcPort, tls);

    /// <summary>Where a logic node's silo listens (fixed, so that its row in the membership table is known).</summary>
    public static string[] SiloPort(int siloPort) => [$"Chat:Silo:Port={siloPort}"];

    /// <summary>The same, on <paramref name="host"/> (the silo's advertised address; loopback unless said).</summary>
    public static string[] SiloPort(string host, int siloPort) =>
        host == "127.0.0.1" ? SiloPort(siloPort) : [.. SiloPort(siloPort), $"Chat:Silo:AdvertisedAddress={host}"];

    /// <summary>What both roles get: etcd, and log lines with UTC timestamps.</summary>
    public static string[] Common(string etcdUrl) =>
    [
        $"Chat:Cluster:Etcd={etcdUrl}",
        "Logging:Console:FormatterName=simple",
        "Logging:Console:FormatterOptions:TimestampFormat=yyyy-MM-ddTHH:mm:ss.fffZ ",
        "Logging:Console:FormatterOptions:UseUtcTimestamp=true",
    ];

    /// <summary>
    /// TLS between nodes: this node's certificate (naming its role and gRPC address) and key, the cluster's
    /// CA; etcd (https://, checked against the same CA) as this role's user, its password in a file.
    /// </summary>
    public static string[] Tls(string certificate, string key, string ca, string etcdUser, string etcdPasswordFile) =>
    [
        $"Chat:Cluster:Tls:CertificatePath={certificate}",
        $"Chat:Cluster:Tls:KeyPath={key}",
        $"Chat:Cluster:Tls:CaPath={ca}",
        $"Chat:Cluster:EtcdUser={etcdUser}",
        $"Chat:Cluster:EtcdPasswordFile={etcdPasswordFile}",
    ];

    /// <summary>A logic node's silo port: TLS with the same certificate (a logic node's) and CA.</summary>
    public static string[] SiloTls(string certificate, string key, string ca) =>
    [
        $"Chat:Silo:Tls:CertificatePath={certificate}",
        $"Chat:Silo:Tls:KeyPath={key}",
        $"Chat:Silo:Tls:CaPath={ca}",
    ];

    /// <summary>Without TLS (loopback only): the cluster's shared secret, in a file.</summary>
    public static string[] Plain(string secretFile) => [$"Chat:Cluster:SecretFile={secretFile}"];

    /// <summary>A logic node: the shared MariaDB database (connection string in a file), one Orleans cluster over it, the bot challenge's key (a file).</summary>
    public static string[] Logic(string connectionStringFile, string challengeKeyFile) =>
    [
        "Chat:Store:Kind=mariadb",
        $"Chat:Store:ConnectionStringFile={connectionStringFile}",
        $"Chat:Limits:Challenge:KeyFile={challengeKeyFile}",
        "Chat:Silo:ClusterId=chat",
    ];

    /// <summary>A broker: believes X-Forwarded-For from nginx on this machine only.</summary>
    public static string[] Broker() => ["Chat:Cluster:TrustedProxies=127.0.0.1"];

    /// <summary>
    /// The environment both roles get. The nodes share this machine's cores (two, where it was
    /// measured): a thread-pool thread that spins waiting for work burns CPU another node needs.
    /// With spinning off the cluster delivered 20-30 % more closed-loop messages at less CPU each
    /// (docs/benchmarks.md); an all-in-one server did not move. On servers that run one node each,
    /// leave it unset. Set the variable yourself to override it.
    /// </summary>
    public static Dictionary<string, string> Environment()
    {
        const string Spinning = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";
        return new() { [Spinning] = System.Environment.GetEnvironmentVariable(Spinning) ?? "0" };
    }
}
