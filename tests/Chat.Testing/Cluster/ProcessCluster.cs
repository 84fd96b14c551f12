using Chat.Host;
using Chat.Testing.Databases;
using Chat.Testing.Network;
using MySqlConnector;

namespace Chat.Testing.Cluster;

/// <summary>
/// The distributed `chat` as it is deployed, on this machine: a MariaDB database of its own (on the
/// test process's shared <c>mariadbd</c>), a real etcd, logic nodes forming an Orleans cluster over
/// that database, and brokers that find the logic nodes in etcd, each node a child process on free
/// loopback ports with the cluster's secret in its environment.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    public const string Secret = "process-cluster-secret";

    private readonly List<ChildNode> _logic = [];
    private readonly List<ChildNode> _brokers = [];
    private readonly Dictionary<ChildNode, int> _siloPorts = [];

    private ProcessCluster(MariaDbDatabase database, EtcdServer etcd)
    {
        Database = database;
        Etcd = etcd;
    }

    public MariaDbDatabase Database { get; }

    public EtcdServer Etcd { get; }

    public IReadOnlyList<ChildNode> Logic => _logic;

    public IReadOnlyList<ChildNode> Brokers => _brokers;

    /// <param name="settings">Configuration overrides every node gets (<c>Chat:Logic:GracePeriod=00:00:02</c>).</param>
    public static async Task<ProcessCluster> StartAsync(int logicNodes = 2, int brokers = 2, params string[] settings)
    {
        var mariadb = await MariaDbServer.Shared;
        var cluster = new ProcessCluster(await mariadb.CreateDatabaseAsync(), await EtcdServer.StartAsync());
        try
        {
            // The first logic node migrates the database and founds the Orleans cluster; the others join it.
            cluster._logic.Add(await cluster.StartNodeAsync(ChatRole.Logic, "logic-1", settings));
            cluster._logic.AddRange(await Task.WhenAll(Enumerable.Range(2, logicNodes - 1).Select(i => cluster.StartNodeAsync(ChatRole.Logic, $"logic-{i}", settings))));
            cluster._brokers.AddRange(await Task.WhenAll(Enumerable.Range(1, brokers).Select(i => cluster.StartNodeAsync(ChatRole.Broker, $"broker-{i}", settings))));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Every node's last lines of output, for a failure message.</summary>
    public string Output => string.Join("\n", _logic.Concat(_brokers).Select(node => $"--- {node.Name} ---\n{node.Output}"));

    /// <summary>
    /// Waits until the Orleans cluster has declared <paramref name="logic"/> dead in its membership
    /// table (the living nodes' verdict, which nothing announces to an outsider, so the table is read).
    /// </summary>
    public async Task WaitUntilDeclaredDeadAsync(ChildNode logic, TimeSpan limit)
    {
        const int Dead = 6;
        var deadline = DateTime.UtcNow + limit;
        await using var connection = new MySqlConnection(Database.ConnectionString);
        await connection.OpenAsync();
        await using var status = new MySqlCommand("SELECT Status FROM OrleansMembershipTable WHERE Port = @port ORDER BY Generation DESC LIMIT 1;", connection);
        status.Parameters.AddWithValue("@port", _siloPorts[logic]);
        while (Convert.ToInt32(await status.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) != Dead)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{logic.Name} not declared dead within {limit.TotalSeconds:0} s:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _brokers.Concat(_logic))
        {
            await node.DisposeAsync();
        }

        await Etcd.DisposeAsync();
    }

    private async Task<ChildNode> StartNodeAsync(ChatRole role, string name, string[] settings)
    {
        var siloPort = LoopbackPort.Free(); // fixed, so the node's row in the membership table is known
        IEnumerable<string> common = [$"Chat:Cluster:Etcd={Etcd.ClientUrl}", .. settings];
        var environment = new Dictionary<string, string> { ["Chat__Cluster__Secret"] = Secret };
        if (role == ChatRole.Logic)
        {
            common = ["Chat:Store:Kind=mariadb", $"Chat:Silo:Port={siloPort}", .. common];
            environment["Chat__Store__ConnectionString"] = Database.ConnectionString;
        }

        var node = await ChildNode.StartAsync(role, name, common, environment);
        lock (_siloPorts)
        {
            _siloPorts[node] = siloPort;
        }

        return node;
    }
}
