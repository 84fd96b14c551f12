using System.Security.Cryptography;
using System.Text.Json;
using Chat.Host;
using Chat.Testing.Databases;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;
using dotnet_etcd;
using MySqlConnector;

namespace Chat.Testing.Cluster;

/// <summary>
/// The distributed `chat` as it is deployed, on this machine, started in one place for everyone:
/// the tests (<see cref="StartAsync(int, int, string[])"/>), deploy/local-cluster.sh and the bench
/// (deploy/LocalCluster, through the script). It starts MariaDB and etcd, then the logic nodes
/// (one Orleans cluster over the database) and the brokers (which find the logic nodes in etcd),
/// then nginx in front of the brokers, and returns once each part says it is ready and every logic
/// node is in etcd. Each part is a child process on free loopback ports (picked again if another
/// program takes one first), with its log under <see cref="Folder"/>; secrets reach the nodes as
/// file names. A start that fails stops what it had started and says which log to read.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly ClusterPlan _plan;
    private readonly TempFolder? _temporary;
    private readonly List<ChildNode> _logic = [];
    private readonly List<ChildNode> _brokers = [];

    private ProcessCluster(ClusterPlan plan, TempFolder? temporary)
    {
        _plan = plan;
        _temporary = temporary;
    }

    public ClusterFolder Folder => _plan.Folder;

    /// <summary>The cluster's own mariadbd (<see cref="ClusterPlan.OwnDatabase"/>), or null when its database is on the test process's shared one.</summary>
    public MariaDbServer? MariaDb { get; private set; }

    public MariaDbDatabase Database { get; private set; } = null!;

    /// <summary>The database's port on 127.0.0.1.</summary>
    public int DatabasePort { get; private set; }

    public EtcdServer? Etcd { get; private set; }

    public IReadOnlyList<ChildNode> Logic => _logic;

    public IReadOnlyList<ChildNode> Brokers => _brokers;

    public NginxServer? Nginx { get; private set; }

    /// <summary>Every node's last lines of output, for a failure message.</summary>
    public string Output => string.Join("\n", _logic.Concat(_brokers).Select(node => $"--- {node.Name} ---\n{node.Output}"));

    /// <summary>
    /// For tests: a cluster in a temp folder (deleted on dispose) with its database on the test
    /// process's shared mariadbd, no nginx, nodes logging warnings and above.
    /// </summary>
    /// <param name="settings">Configuration overrides every node gets (<c>Chat:Logic:GracePeriod=00:00:02</c>).</param>
    public static async Task<ProcessCluster> StartAsync(int logicNodes = 2, int brokers = 2, params string[] settings)
    {
        var temporary = TempFolder.Create("chat-cluster-");
        var plan = new ClusterPlan(new ClusterFolder(temporary.Path), ChatExecutable.Dll, ChatExecutable.DotnetHost)
        {
            LogicNodes = logicNodes,
            Brokers = brokers,
            Settings = ["Logging:LogLevel:Default=Warning", .. LimitSettings.Off, .. settings], // tests of the limits turn them on
        };
        return await StartAsync(plan, temporary, CancellationToken.None);
    }

    /// <summary>Starts what <paramref name="plan"/> says and waits until all of it is ready.</summary>
    public static Task<ProcessCluster> StartAsync(ClusterPlan plan, CancellationToken cancellationToken) => StartAsync(plan, null, cancellationToken);

    /// <summary>
    /// What node <paramref name="name"/> (logic1, broker2, ...) of <paramref name="plan"/> runs as, with etcd at its
    /// client port <paramref name="etcdPort"/> on 127.0.0.1. On TLS its certificate is issued before each start, for the gRPC
    /// address it then listens on; a logic node's silo uses the same one.
    /// </summary>
    public static NodePlan NodePlanOf(ClusterPlan plan, string name, int etcdPort) =>
        NodePlanOf(plan, name, $"{(plan.Tls ? "https" : "http")}://127.0.0.1:{etcdPort}");

    /// <summary>The same, with etcd at <paramref name="etcdUrl"/>, the node where <see cref="ClusterPlan.PlaceOf"/> puts it.</summary>
    public static NodePlan NodePlanOf(ClusterPlan plan, string name, string etcdUrl)
    {
        var place = plan.PlaceOf(name);
        var role = name.StartsWith("logic", StringComparison.Ordinal) ? ChatRole.Logic : ChatRole.Broker;
        var folder = plan.Folder;
        var certificates = new ClusterCertificates(folder.Tls);
        var (certificate, key) = (certificates.CertificateOf(name), certificates.KeyOf(name));
        var etcdUser = role == ChatRole.Logic ? LogicEtcdUser : BrokerEtcdUser;
        string[] settings =
        [
            .. NodeSettings.Common(etcdUrl),
            .. plan.Tls ? NodeSettings.Tls(certificate, key, certificates.CaPath, etcdUser, folder.EtcdPasswordFile(etcdUser)) : NodeSettings.Plain(folder.SecretFile),
            .. plan.Tls && role == ChatRole.Logic ? NodeSettings.SiloTls(certificate, key, certificates.CaPath) : [],
            .. role == ChatRole.Logic ? NodeSettings.Logic(folder.ConnectionFile, folder.ChallengeKeyFile) : NodeSettings.Broker(),
            .. plan.Settings,
        ];
        return new NodePlan(role, name, folder.Log(name), settings, NodeSettings.Environment(), plan.Dll, plan.Dotnet)
        {
            Tls = plan.Tls,
            Place = place,
            BeforeStart = plan.Tls
                ? (ports, token) => certificates.IssueNodeAsync(name, role == ChatRole.Logic ? "logic" : "broker", $"{place.Host}:{ports.Grpc}", token)
                : null,
        };
    }

    /// <summary>etcd's users: logic nodes may write their entries, brokers only read them.</summary>
    public const string LogicEtcdUser = "chat-logic", BrokerEtcdUser = "chat-broker";

    /// <summary>How the cluster's etcd is secured (its certificates made, its passwords written, by the cluster's start).</summary>
    public static EtcdSecurity? EtcdSecurityOf(ClusterPlan plan)
    {
        if (!plan.Tls)
        {
            return null;
        }

        var folder = plan.Folder;
        string Password(string user) => File.ReadAllText(folder.EtcdPasswordFile(user)).Trim();
        return new ClusterCertificates(folder.Tls).EtcdSecurity(
            Password(EtcdSecurity.Root),
            [new EtcdUser(LogicEtcdUser, Password(LogicEtcdUser), NodeSettings.EtcdPrefix, Write: true), new EtcdUser(BrokerEtcdUser, Password(BrokerEtcdUser), NodeSettings.EtcdPrefix, Write: false)]);
    }

    /// <summary>
    /// Starts logic node <paramref name="name"/> (<c>logic3</c>, ...) of the plan beside the running ones, as an
    /// operator adding a node would, and keeps it to be stopped with the cluster; throws if it does not become ready.
    /// </summary>
    public async Task<ChildNode> StartLogicAsync(string name, CancellationToken cancellationToken = default)
    {
        var node = await ChildNode.StartAsync(NodePlanOf(_plan, name, Etcd!.ClientUrl), cancellationToken: cancellationToken);
        _logic.Add(node);
        return node;
    }

    /// <summary>
    /// Waits until the Orleans cluster has declared <paramref name="logic"/> dead in its membership
    /// table (the living nodes' verdict, which nothing announces to an outsider, so the table is read).
    /// </summary>
    public async Task WaitUntilDeclaredDeadAsync(ChildNode logic, TimeSpan limit)
    {
        const int Dead = 6;
        var deadline = DateTime.UtcNow + limit;
        await using var connection = new MySqlConnection(Database.DoorConnectionString);
        await connection.OpenAsync();
        await using var status = new MySqlCommand("SELECT Status FROM OrleansMembershipTable WHERE Port = @port ORDER BY Generation DESC LIMIT 1;", connection);
        status.Parameters.AddWithValue("@port", logic.Ports.Silo);
        while (Convert.ToInt32(await status.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) != Dead)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{logic.Name} not declared dead within {limit.TotalSeconds:0} s:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// <paramref name="logic"/>'s rows in the Orleans membership table, oldest start first: each start of its silo
    /// is a new generation with a status of its own (Orleans' SiloStatus: 3 Active, 6 Dead).
    /// </summary>
    public async Task<IReadOnlyList<(int Generation, int Status)>> SiloRowsAsync(ChildNode logic)
    {
        await using var connection = new MySqlConnection(Database.DoorConnectionString);
        await connection.OpenAsync();
        await using var rows = new MySqlCommand("SELECT Generation, Status FROM OrleansMembershipTable WHERE Port = @port ORDER BY Generation;", connection);
        rows.Parameters.AddWithValue("@port", logic.Ports.Silo);
        await using var reader = await rows.ExecuteReaderAsync();
        var found = new List<(int Generation, int Status)>();
        while (await reader.ReadAsync())
        {
            found.Add((reader.GetInt32(0), reader.GetInt32(1)));
        }

        return found;
    }

    /// <summary>Stops everything, clients first and the database last.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Nginx is { } nginx)
            {
                await nginx.DisposeAsync();
            }

            await Task.WhenAll(_brokers.Select(node => node.DisposeAsync().AsTask()));
            await Task.WhenAll(_logic.Select(node => node.DisposeAsync().AsTask()));
            if (Etcd is { } etcd)
            {
                await etcd.DisposeAsync();
            }

            if (MariaDb is { } mariadb)
            {
                await mariadb.DisposeAsync();
            }
        }
        finally
        {
            _temporary?.Dispose();
        }
    }

    private static async Task<ProcessCluster> StartAsync(ClusterPlan plan, TempFolder? temporary, CancellationToken cancellationToken)
    {
        var cluster = new ProcessCluster(plan, temporary);
        try
        {
            await cluster.StartPartsAsync(cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartPartsAsync(CancellationToken cancellationToken)
    {
        var folder = _plan.Folder;
        folder.Create();
        var nodes = _plan.LogicNodes + _plan.Brokers;
        if (_plan.Tls && nodes > 0)
        {
            // New passwords for etcd's users at each start (its data, users included, is made anew), the CA kept.
            await new ClusterCertificates(folder.Tls).MakeAsync(cancellationToken, _plan.PlaceOf("etcd").Host);
            foreach (var user in new[] { EtcdSecurity.Root, LogicEtcdUser, BrokerEtcdUser })
            {
                ClusterFolder.WriteSecret(folder.EtcdPasswordFile(user), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)) + "\n");
            }
        }
        else
        {
            ClusterFolder.WriteSecret(folder.SecretFile, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        }

        ClusterFolder.WriteSecret(folder.ChallengeKeyFile, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");

        var etcd = nodes > 0 ? EtcdServer.StartAsync(folder.Etcd, folder.Log("etcd"), null, cancellationToken, EtcdSecurityOf(_plan), _plan.PlaceOf("etcd")) : null;
        try
        {
            await StartDatabaseAsync(cancellationToken);
        }
        finally
        {
            Etcd = etcd is null ? null : await etcd; // even if the database failed: so that it is stopped
        }

        if (nodes == 0)
        {
            return;
        }

        // The logic nodes at once (they migrate the database one after the other under a lock), then the
        // brokers once every silo is Active: brokers could wait for logic by themselves, but their first calls
        // then activated grains while the silos were still joining one another, and Orleans' directory lets two
        // silos each hold an activation of a grain during such a change (an address's socket count split in two
        // halves, each under the limit: LimitsClusterTests failed so in clean-clone runs).
        var etcdUrl = Etcd!.ClientUrl;
        var logic = Enumerable.Range(1, _plan.LogicNodes).Select(n => ChildNode.StartAsync(NodePlanOf(_plan, $"logic{n}", etcdUrl), cancellationToken: cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(logic);
        }
        finally
        {
            // Every node that started is kept, so that all are stopped if one did not start.
            _logic.AddRange(Started(logic));
        }

        await WaitUntilActiveAsync(cancellationToken);
        var brokers = Enumerable.Range(1, _plan.Brokers).Select(n => ChildNode.StartAsync(NodePlanOf(_plan, $"broker{n}", etcdUrl), cancellationToken: cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(brokers);
        }
        finally
        {
            _brokers.AddRange(Started(brokers));
        }

        await WaitUntilRegisteredAsync(cancellationToken);

        if (_plan.Nginx)
        {
            Nginx = await NginxServer.StartAsync(folder.Nginx, folder.Logs, [.. _brokers.Select(broker => $"127.0.0.1:{broker.Ports.Http}")], null, cancellationToken);
        }
    }

    /// <summary>The cluster's own mariadbd and database `chat`, or a new database on the shared server; its connection string into secrets/.</summary>
    private async Task StartDatabaseAsync(CancellationToken cancellationToken)
    {
        if (_plan.OwnDatabase)
        {
            MariaDb = await MariaDbServer.StartAsync(_plan.Folder.MariaDb, _plan.Folder.Log("mariadb"), _plan.MariaDbOptions, null, cancellationToken, _plan.PlaceOf("mariadb"));
            Database = await MariaDb.CreateDatabaseAsync("chat", "chat", cancellationToken);
            DatabasePort = MariaDb.Port;
        }
        else
        {
            if (!_plan.PlaceOf("mariadb").IsLoopback)
            {
                throw new InvalidOperationException("a cluster whose database is placed in a fault network needs a mariadbd of its own (OwnDatabase)");
            }

            var shared = await MariaDbServer.Shared;
            Database = await shared.CreateDatabaseAsync();
            DatabasePort = shared.Port;
        }

        ClusterFolder.WriteSecret(_plan.Folder.ConnectionFile, Database.ConnectionString + "\n");
    }

    private static IEnumerable<ChildNode> Started(List<Task<ChildNode>> starting) =>
        starting.Where(start => start.IsCompletedSuccessfully).Select(start => start.Result);

    /// <summary>Waits until every logic node's silo is Active in the membership table (Orleans' SiloStatus 3), the table being what they all read.</summary>
    private async Task WaitUntilActiveAsync(CancellationToken cancellationToken)
    {
        const int Active = 3;
        var limit = TimeSpan.FromSeconds(60);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var statuses = new List<int>();
            foreach (var node in _logic)
            {
                statuses.Add(await SiloRowsAsync(node) is [.., var latest] ? latest.Status : 0);
            }

            if (statuses.All(status => status == Active))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"logic nodes not all Active within {limit.TotalSeconds:0} s (statuses {string.Join(", ", statuses)}):\n{Output}");
            }

            await Task.Delay(100, cancellationToken); // the table could be watched by no one but Orleans; a few polls during a start
        }
    }

    /// <summary>
    /// A logic node is ready (its store answers) a moment before it has written itself into etcd,
    /// where brokers find it: waits until each one's gRPC address is there.
    /// </summary>
    private async Task WaitUntilRegisteredAsync(CancellationToken cancellationToken)
    {
        var limit = TimeSpan.FromSeconds(60);
        var deadline = DateTime.UtcNow + limit;
        using var etcd = Etcd!.Client();
        var wanted = _logic.Select(node => node.GrpcAddress).ToHashSet();
        while (true)
        {
            var registered = (await etcd.GetRangeValAsync(NodeSettings.EtcdPrefix, cancellationToken: cancellationToken)).Values
                .Select(value => JsonDocument.Parse(value).RootElement.GetProperty("Addr").GetString() ?? "")
                .ToHashSet();
            if (wanted.IsSubsetOf(registered))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"logic nodes {string.Join(", ", wanted.Except(registered))} not in etcd within {limit.TotalSeconds:0} s:\n{Output}");
            }

            await Task.Delay(100, cancellationToken); // etcd could be watched, but a few polls during a start are simpler
        }
    }
}

/// <summary>
/// What a cluster on this machine is made of. <see cref="OwnDatabase"/>: a mariadbd of its own in
/// the folder (the local cluster), else a database on the test process's shared one.
/// </summary>
public sealed record ClusterPlan(ClusterFolder Folder, string Dll, string Dotnet)
{
    public int LogicNodes { get; init; } = 2;

    public int Brokers { get; init; } = 2;

    /// <summary>Configuration every node gets after its own (<c>Key:Sub=value</c>).</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    public bool OwnDatabase { get; init; }

    /// <summary>More mariadbd options, after the ones <see cref="MariaDbServer"/> gives.</summary>
    public IReadOnlyList<string> MariaDbOptions { get; init; } = [];

    public bool Nginx { get; init; }

    /// <summary>
    /// TLS between the nodes (certificates from a CA of the cluster's own, made by deploy/cluster-certs.sh) and
    /// etcd on TLS with client certificates and a user per role, as a cluster should run; false: plain h2c with
    /// the shared secret and etcd open to anyone, as allowed on loopback.
    /// </summary>
    public bool Tls { get; init; } = true;

    /// <summary>Where each part (mariadb, etcd, logic1, broker2, ...) runs; null: all on loopback.</summary>
    public Func<string, NetworkPlace>? Places { get; init; }

    public NetworkPlace PlaceOf(string part) => Places?.Invoke(part) ?? NetworkPlace.Loopback;
}
