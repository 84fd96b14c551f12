using System.Globalization;
using Chat.Testing.Cluster;
using Chat.Testing.Processes;

namespace Chat.LocalCluster;

/// <summary>
/// What `up` writes down for the commands after it: each part's PID (<c>run/PART.pid</c>), the ports
/// and programs chosen (<c>run/config.env</c>), and <c>cluster.env</c>, the address book people and
/// tests read (deploy/README.md lists its lines). A part counts as running only while the PID in
/// its file is a process whose command line names the cluster's folder.
/// </summary>
internal sealed class ClusterRecord(ClusterFolder folder)
{
    /// <summary>
    /// Every part a cluster can have, in the order they start; lists in cluster.env name node 1 before node 2.
    /// broker3 only in a cluster started with BROKERS=3.
    /// </summary>
    public static readonly string[] Parts = ["mariadb", "etcd", "logic1", "logic2", "broker1", "broker2", "broker3", "nginx"];

    /// <summary>The brokers a cluster can have, first to last.</summary>
    public static readonly string[] BrokerParts = [.. Parts.Where(part => part.StartsWith("broker", StringComparison.Ordinal))];

    /// <summary>Every port chosen, by its name in run/config.env and cluster.env.</summary>
    public static readonly string[] PortNames =
    [
        "MARIADB_PORT", "ETCD_PORT", "ETCD_PEER_PORT",
        "LOGIC1_HTTP_PORT", "LOGIC1_GRPC_PORT", "LOGIC1_SILO_PORT", "LOGIC2_HTTP_PORT", "LOGIC2_GRPC_PORT", "LOGIC2_SILO_PORT",
        "BROKER1_HTTP_PORT", "BROKER1_GRPC_PORT", "BROKER2_HTTP_PORT", "BROKER2_GRPC_PORT", "BROKER3_HTTP_PORT", "BROKER3_GRPC_PORT", "NGINX_PORT",
    ];

    private string ConfigFile => Path.Combine(folder.Run, "config.env");

    public string EnvFile => Path.Combine(folder.Root, "cluster.env");

    public RecordedProcess? Process(string part) => RecordedProcess.Read(PidFile(part), folder.Root + "/");

    public bool IsRunning(string part) => Process(part) is { IsRunning: true };

    /// <summary>Whether the cluster described by <paramref name="config"/> has that part (a third broker only if it was started with one).</summary>
    public static bool Has(IReadOnlyDictionary<string, string> config, string part) =>
        !part.StartsWith("broker", StringComparison.Ordinal) || config.ContainsKey(part.ToUpperInvariant() + "_HTTP_PORT");

    public void WritePid(string part, int pid) => File.WriteAllText(PidFile(part), pid.ToString(CultureInfo.InvariantCulture) + "\n");

    public void RemovePid(string part) => File.Delete(PidFile(part));

    public bool HasConfig => File.Exists(ConfigFile);

    /// <summary>run/config.env: <c>NAME=value</c> lines (ports, CHAT_DLL, DOTNET, MARIADB_OPTIONS).</summary>
    public Dictionary<string, string> ReadConfig() => File.Exists(ConfigFile)
        ? ReadEnv(ConfigFile)
        : throw new CommandException($"{folder.Root} holds no cluster (no {ConfigFile}): run 'deploy/local-cluster.sh up {folder.Root}' first");

    public void WriteConfig(IReadOnlyDictionary<string, string> config) =>
        WriteLines(ConfigFile, [$"# Ports and programs of the cluster in {folder.Root} (deploy/local-cluster.sh; do not edit).", .. config.Select(pair => $"{pair.Key}={pair.Value}")]);

    /// <summary>
    /// cluster.env from the ports in <paramref name="config"/> and the PID files as they are now (a
    /// stopped part's PID is empty). It names where the cluster's keys are: written mode 600, never readable by others.
    /// </summary>
    public void WriteClusterEnv(IReadOnlyDictionary<string, string> config)
    {
        string Port(string name) => config.GetValueOrDefault(name, "");
        string Url(string name) => config.ContainsKey(name) ? $"http://127.0.0.1:{Port(name)}" : "";
        var pids = Parts.ToDictionary(part => part, part => Process(part) is { IsRunning: true } running ? running.Pid.ToString(CultureInfo.InvariantCulture) : "");
        var front = Url("NGINX_PORT");
        var brokers = BrokerParts.Where(broker => Has(config, broker)).ToList();
        var tls = new ClusterCertificates(folder.Tls);
        List<string> lines =
        [
            $"# The local chat cluster in {folder.Root}, written by deploy/local-cluster.sh.",
            "# Open CHAT_URL (or FRONT_URL, the same) in a browser: nginx, in front of both brokers.",
            "# Source this file in a shell. It names the cluster's keys and passwords: keep it mode 600.",
            $"CLUSTER_DIR={folder.Root}",
            $"CHAT_URL={front}/",
            $"FRONT_URL={front}/",
            .. new[] { "BROKER1", "BROKER2", "BROKER3", "LOGIC1", "LOGIC2" }.Where(node => config.ContainsKey(node + "_HTTP_PORT") || node != "BROKER3").Select(node => $"{node}_URL={Url(node + "_HTTP_PORT")}/"),
            $"ETCD_URL={(config.ContainsKey("ETCD_PORT") ? $"{(config.GetValueOrDefault("TLS") == "0" ? "http" : "https")}://127.0.0.1:{Port("ETCD_PORT")}" : "")}",
            $"MARIADB_SOCKET={Path.Combine(folder.MariaDb, "mariadb.sock")}",
            .. PortNames.Select(name => $"{name}={Port(name)}"),
            // Both nodes of a kind in one line each, in the same order in every list (1, then 2).
            $"BROKER_URLS={string.Join(',', brokers.Select(broker => $"ws://127.0.0.1:{Port(broker.ToUpperInvariant() + "_HTTP_PORT")}/ws"))}",
            $"LOGIC_GRPC=127.0.0.1:{Port("LOGIC1_GRPC_PORT")},127.0.0.1:{Port("LOGIC2_GRPC_PORT")}",
            $"LOGIC_HTTP={Url("LOGIC1_HTTP_PORT")},{Url("LOGIC2_HTTP_PORT")}",
            .. Parts.Select(part => $"{part.ToUpperInvariant()}_PID={pids[part]}"),
            $"LOGIC_PIDS={pids["logic1"]},{pids["logic2"]}",
            $"BROKER_PIDS={string.Join(',', brokers.Select(broker => pids[broker]))}",
            // The cluster's certificates (deploy/cluster-certs.sh), for grpcurl and etcdctl: the CA, and
            // NAME.pem / NAME.key for each node and for etcd's admin client (chat-admin, with user root).
            $"TLS_DIR={tls.Folder}",
            $"TLS_CA={tls.CaPath}",
            $"ETCD_ROOT_PASSWORD_FILE={folder.EtcdPasswordFile(EtcdSecurity.Root)}",
        ];
        WriteLines(EnvFile, lines);
    }

    private static Dictionary<string, string> ReadEnv(string path) =>
        File.ReadLines(path)
            .Where(line => line.Length > 0 && line[0] != '#' && line.Contains('=', StringComparison.Ordinal))
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);

    /// <summary>Replaces the file at once (a reader never sees half of it), mode 600.</summary>
    private static void WriteLines(string path, IEnumerable<string> lines) =>
        ClusterFolder.WriteSecret(path, string.Join('\n', lines) + "\n");

    private string PidFile(string part) => Path.Combine(folder.Run, part + ".pid");
}

/// <summary>A command that cannot go on, with what to tell the person who ran it.</summary>
internal sealed class CommandException(string message) : Exception(message);
