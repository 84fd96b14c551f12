using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Chat.Testing.Cluster;
using Chat.Testing.Databases;

namespace Chat.LocalCluster;

/// <summary>
/// The commands of deploy/local-cluster.sh. `up` starts the cluster with the tests' own
/// <see cref="ProcessCluster"/> and leaves its parts running when it returns; the other commands
/// find them again by the PIDs <see cref="ClusterRecord"/> wrote down.
/// </summary>
internal static partial class Commands
{
    public const string Usage = """
        A whole chat cluster on this machine, to try the cluster mode or test against it: a private
        MariaDB, a one-node etcd, two logic nodes, two brokers and nginx in front of the brokers, all
        on free 127.0.0.1 ports, with every data file, log and PID file under one folder.

          deploy/local-cluster.sh up DIR           start everything, wait until each part is ready,
                                                   write DIR/cluster.env (addresses, PIDs and where
                                                   the cluster's certificates are; mode 600) and print
                                                   the web address
          deploy/local-cluster.sh up DIR mariadb   MariaDB alone, with database `chat` (the bench's
                                                   server-mariadb); its connection string is in
                                                   DIR/secrets/store-connection
          deploy/local-cluster.sh down DIR         stop everything it started (by the PIDs in DIR/run);
                                                   safe to run twice
          deploy/local-cluster.sh status DIR       which parts are alive (exit 0 only if all are)
          deploy/local-cluster.sh stop DIR PART    stop one part; PART is one of:
                                                   mariadb etcd logic1 logic2 broker1 broker2 nginx
                                                   (and broker3 in a cluster started with BROKERS=3)
          deploy/local-cluster.sh start DIR PART   start one part again on its ports, wait until ready

        Environment:
          CHAT_DLL         chat.dll to run (default: the one built with this program)
          DOTNET           the dotnet host to run it with (default: the one running this program)
          STOP_TIMEOUT     seconds a part gets to stop after SIGTERM before SIGKILL (default 30)
          MARIADB_OPTIONS  more mariadbd options, after the usual ones (e.g. a larger buffer pool)
          BROKERS          2 (the default) or 3: how many brokers `up` starts (three: broker3 as
                           well, behind nginx with the others; the bench's many-visitors run)
          PLAIN            1: the nodes talk plaintext h2c with a shared secret and etcd is open,
                           instead of TLS everywhere (loopback allows it; to compare, not to use)

        Only processes this program started are ever signalled, by the PIDs it wrote down, and only
        while their command line still names DIR (so a PID reused by another program is left alone).
        deploy/README.md explains the parts, the ports and what each setting is for.
        """;

    private static readonly string[][] StopOrder = [["nginx"], ClusterRecord.BrokerParts, ["logic1", "logic2"], ["etcd", "mariadb"]];

    public static async Task<int> RunAsync(string[] args)
    {
        using var interrupted = new CancellationTokenSource();
        void Interrupt(PosixSignalContext context)
        {
            context.Cancel = true;
            interrupted.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        try
        {
            return args switch
            {
                ["up", var dir] => await UpAsync(FolderOf(dir, create: true), databaseOnly: false, interrupted.Token),
                ["up", var dir, "mariadb"] => await UpAsync(FolderOf(dir, create: true), databaseOnly: true, interrupted.Token),
                ["down", var dir] => Directory.Exists(dir) ? await DownAsync(FolderOf(dir)) : Said(0, $"nothing to stop: {dir} does not exist"),
                ["status", var dir] => await StatusAsync(FolderOf(dir)),
                ["stop", var dir, var part] => await StopAsync(FolderOf(dir), PartOf(part)),
                ["start", var dir, var part] => await StartAsync(FolderOf(dir), PartOf(part), interrupted.Token),
                ["-h" or "--help" or "help"] => Help(Console.Out, 0),
                _ => Help(Console.Error, 2),
            };
        }
        catch (CommandException ex)
        {
            await Console.Error.WriteLineAsync($"local-cluster: error: {ex.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("local-cluster: interrupted (what had started is stopped)");
            return 130;
        }
    }

    private static async Task<int> UpAsync(ClusterFolder folder, bool databaseOnly, CancellationToken cancellationToken)
    {
        var record = new ClusterRecord(folder);
        var running = ClusterRecord.Parts.Where(record.IsRunning).ToList();
        if (running.Count > 0)
        {
            throw new CommandException($"parts of a cluster in {folder.Root} are running ({string.Join(' ', running)}): run 'deploy/local-cluster.sh down {folder.Root}' first");
        }

        ExpectInstalled(databaseOnly ? ["mariadbd", "mariadb-install-db"] : ["mariadbd", "mariadb-install-db", "etcd", "nginx"]);
        File.Delete(record.EnvFile);
        var brokers = BrokerCount();
        var plan = PlanOf(folder, ProgramsOf()) with
        {
            LogicNodes = databaseOnly ? 0 : 2,
            Brokers = databaseOnly ? 0 : brokers,
            Nginx = !databaseOnly,
        };
        Say(databaseOnly ? $"starting MariaDB in {folder.Root} ..." : $"starting MariaDB, etcd, two logic nodes, {(brokers == 2 ? "two" : "three")} brokers and nginx in {folder.Root} ...");
        ProcessCluster cluster;
        try
        {
            cluster = await ProcessCluster.StartAsync(plan, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CommandException($"the start failed, and what had started is stopped (logs stay in {folder.Logs}):\n{ex.Message}");
        }

        // The parts run on after this program ends: it only writes down where they are.
        var config = new Dictionary<string, string>(ProgramsOf()) { ["MARIADB_PORT"] = $"{cluster.DatabasePort}" };
        record.WritePid("mariadb", cluster.MariaDb!.ProcessId);
        if (cluster.Etcd is { } etcd)
        {
            (config["ETCD_PORT"], config["ETCD_PEER_PORT"]) = ($"{etcd.ClientPort}", $"{etcd.PeerPort}");
            record.WritePid("etcd", etcd.ProcessId);
        }

        foreach (var node in cluster.Logic.Concat(cluster.Brokers))
        {
            var name = node.Name.ToUpperInvariant();
            (config[$"{name}_HTTP_PORT"], config[$"{name}_GRPC_PORT"]) = ($"{node.Ports.Http}", $"{node.Ports.Grpc}");
            if (node.Ports.Silo != 0)
            {
                config[$"{name}_SILO_PORT"] = $"{node.Ports.Silo}";
            }

            record.WritePid(node.Name, node.ProcessId);
        }

        if (cluster.Nginx is { } nginx)
        {
            config["NGINX_PORT"] = $"{nginx.Port}";
            record.WritePid("nginx", nginx.ProcessId);
        }

        record.WriteConfig(config);
        record.WriteClusterEnv(config);
        Say($"ready. Logs: {folder.Logs}; addresses and PIDs: {record.EnvFile}");
        Say(cluster.Nginx is { } front ? $"open {front.FrontUri}" : $"MariaDB on 127.0.0.1:{cluster.DatabasePort}; connection string in {folder.ConnectionFile}");
        return 0;
    }

    private static async Task<int> DownAsync(ClusterFolder folder)
    {
        if (!Directory.Exists(folder.Run))
        {
            return Said(0, $"nothing to stop in {folder.Root}");
        }

        // Clients first, the database last.
        var record = new ClusterRecord(folder);
        foreach (var parts in StopOrder)
        {
            await Task.WhenAll(parts.Select(part => StopPartAsync(record, part)));
        }

        if (record.HasConfig)
        {
            record.WriteClusterEnv(record.ReadConfig());
        }

        return Said(0, "stopped");
    }

    private static async Task<int> StatusAsync(ClusterFolder folder)
    {
        var record = new ClusterRecord(folder);
        var config = record.HasConfig ? record.ReadConfig() : [];
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var all = true;
        foreach (var part in ClusterRecord.Parts.Where(part => ClusterRecord.Has(config, part)))
        {
            var process = record.Process(part);
            var state = "stopped";
            if (process is { IsRunning: true })
            {
                state = "alive";
                if (part.StartsWith("logic", StringComparison.Ordinal) || part.StartsWith("broker", StringComparison.Ordinal))
                {
                    var url = $"http://127.0.0.1:{config.GetValueOrDefault(part.ToUpperInvariant() + "_HTTP_PORT")}/";
                    state = await ReadyAsync(http, url) ? $"alive, ready ({url})" : $"alive, not ready ({url}readyz)";
                }
                else if (part == "nginx")
                {
                    state = $"alive (http://127.0.0.1:{config.GetValueOrDefault("NGINX_PORT")}/)";
                }
            }
            else
            {
                all = false;
            }

            Console.WriteLine($"{part,-8} {process?.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",-8} {state}");
        }

        return all ? 0 : 1;
    }

    private static async Task<int> StopAsync(ClusterFolder folder, string part)
    {
        var record = new ClusterRecord(folder);
        var config = record.ReadConfig();
        await StopPartAsync(record, part);
        record.WriteClusterEnv(config);
        return 0;
    }

    /// <summary>One part again, on the ports it had, with the programs it had; waits until it is ready.</summary>
    private static async Task<int> StartAsync(ClusterFolder folder, string part, CancellationToken cancellationToken)
    {
        var record = new ClusterRecord(folder);
        var config = record.ReadConfig();
        if (record.Process(part) is { IsRunning: true } running)
        {
            throw new CommandException($"{part} is running already (PID {running.Pid})");
        }

        Say($"starting {part} ...");
        int Port(string name) => int.Parse(config.GetValueOrDefault(name) ?? throw new CommandException($"{part} was not part of this cluster (no {name} in run/config.env)"), System.Globalization.CultureInfo.InvariantCulture);
        var plan = PlanOf(folder, config);
        int pid;
        try
        {
            pid = part switch
            {
                "mariadb" => (await MariaDbServer.StartAsync(folder.MariaDb, folder.Log("mariadb"), plan.MariaDbOptions, Port("MARIADB_PORT"), cancellationToken)).ProcessId,
                "etcd" => (await EtcdServer.StartAsync(folder.Etcd, folder.Log("etcd"), (Port("ETCD_PORT"), Port("ETCD_PEER_PORT")), cancellationToken, ProcessCluster.EtcdSecurityOf(plan))).ProcessId,
                "nginx" => (await NginxServer.StartAsync(folder.Nginx, folder.Logs, [.. ClusterRecord.BrokerParts.Where(broker => ClusterRecord.Has(config, broker)).Select(broker => $"127.0.0.1:{Port(broker.ToUpperInvariant() + "_HTTP_PORT")}")], Port("NGINX_PORT"), cancellationToken)).ProcessId,
                _ => await StartNodeAsync(plan, part, Port, cancellationToken),
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not CommandException)
        {
            throw new CommandException($"{part} did not start: {ex.Message}");
        }

        record.WritePid(part, pid);
        record.WriteClusterEnv(config);
        return Said(0, $"{part} is ready (PID {pid})");
    }

    private static async Task<int> StartNodeAsync(ClusterPlan plan, string part, Func<string, int> port, CancellationToken cancellationToken)
    {
        var name = part.ToUpperInvariant();
        var ports = new NodePorts(port(name + "_HTTP_PORT"), port(name + "_GRPC_PORT"), part.StartsWith("logic", StringComparison.Ordinal) ? port(name + "_SILO_PORT") : 0);
        var node = await ChildNode.StartAsync(ProcessCluster.NodePlanOf(plan, part, port("ETCD_PORT")), ports, cancellationToken);
        return node.ProcessId;
    }

    /// <summary>SIGTERM, up to STOP_TIMEOUT s, then SIGKILL; the PID file goes only with its process, so one that would not die is still found next time.</summary>
    private static async Task StopPartAsync(ClusterRecord record, string part)
    {
        if (record.Process(part) is not { IsRunning: true } process)
        {
            record.RemovePid(part);
            return;
        }

        Say($"stopping {part} (PID {process.Pid})");
        var limit = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("STOP_TIMEOUT"), out var seconds) ? seconds : 30);
        if (await process.StopAsync(limit, message => Say($"{part}: {message}")))
        {
            record.RemovePid(part);
        }
        else
        {
            Say($"{part} (PID {process.Pid}) is still running after SIGKILL");
        }
    }

    /// <summary>The cluster this program runs: two logic nodes and two brokers on MariaDB of its own, behind nginx.</summary>
    private static ClusterPlan PlanOf(ClusterFolder folder, IReadOnlyDictionary<string, string> programs) =>
        new(folder, programs["CHAT_DLL"], programs["DOTNET"])
        {
            OwnDatabase = true,
            Nginx = true,
            MariaDbOptions = programs.GetValueOrDefault("MARIADB_OPTIONS", "").Split(' ', StringSplitOptions.RemoveEmptyEntries),
            Tls = programs.GetValueOrDefault("TLS", "1") != "0",
        };

    /// <summary>chat.dll, dotnet, mariadbd's extra options and whether the nodes talk TLS: from the environment at `up`, kept in run/config.env for `start`.</summary>
    private static Dictionary<string, string> ProgramsOf()
    {
        var dll = Environment.GetEnvironmentVariable("CHAT_DLL") is { Length: > 0 } given ? Path.GetFullPath(given) : Path.Combine(AppContext.BaseDirectory, "chat.dll");
        if (!File.Exists(dll))
        {
            throw new CommandException($"CHAT_DLL={dll} does not exist");
        }

        return new()
        {
            ["CHAT_DLL"] = dll,
            ["DOTNET"] = Environment.GetEnvironmentVariable("DOTNET") is { Length: > 0 } dotnet ? dotnet : Environment.ProcessPath ?? "dotnet",
            ["MARIADB_OPTIONS"] = Environment.GetEnvironmentVariable("MARIADB_OPTIONS") ?? "",
            ["TLS"] = Environment.GetEnvironmentVariable("PLAIN") == "1" ? "0" : "1",
        };
    }

    /// <summary>BROKERS from the environment: 2 unless it says 3.</summary>
    private static int BrokerCount() => Environment.GetEnvironmentVariable("BROKERS") switch
    {
        null or "" or "2" => 2,
        "3" => 3,
        var other => throw new CommandException($"BROKERS={other}: a local cluster has 2 or 3 brokers"),
    };

    private static void ExpectInstalled(string[] programs)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin");
        var missing = programs.Where(program => !path.Any(folder => File.Exists(Path.Combine(folder, program)))).ToList();
        if (missing.Count > 0)
        {
            throw new CommandException($"{string.Join(", ", missing)} not installed (apt-get install -y mariadb-server etcd-server nginx-light)");
        }
    }

    private static async Task<bool> ReadyAsync(HttpClient http, string url)
    {
        try
        {
            using var answer = await http.GetAsync(new Uri(new Uri(url), "/readyz"));
            return answer.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>The cluster's folder, absolute; its path goes into configs and command lines unquoted, so it must be plain.</summary>
    private static ClusterFolder FolderOf(string dir, bool create = false)
    {
        if (create)
        {
            Directory.CreateDirectory(dir);
        }
        else if (!Directory.Exists(dir))
        {
            throw new CommandException($"{dir} does not exist: no cluster there");
        }

        var root = new DirectoryInfo(dir).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(dir).TrimEnd('/');
        return PlainPath().IsMatch(root) ? new ClusterFolder(root) : throw new CommandException($"DIR must be a path of letters, digits and ._/+- only (got '{root}')");
    }

    private static string PartOf(string part) =>
        ClusterRecord.Parts.Contains(part) ? part : throw new CommandException($"no part named '{part}' (parts: {string.Join(' ', ClusterRecord.Parts)})");

    private static void Say(string message) => Console.WriteLine($"local-cluster: {message}");

    private static int Said(int code, string message)
    {
        Say(message);
        return code;
    }

    private static int Help(TextWriter to, int code)
    {
        to.WriteLine(Usage);
        return code;
    }

    [GeneratedRegex(@"^[A-Za-z0-9._/+-]+$")]
    private static partial Regex PlainPath();
}
