using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Faults;

/// <summary>
/// A <see cref="ProcessCluster"/> whose every part (MariaDB of its own, etcd, each node) runs in a host of a
/// <see cref="FaultNetwork"/> of its own, on TLS with certificates that name the hosts' addresses. Disposing
/// stops the processes by PID, then removes the network, also when the test failed.
/// </summary>
public sealed class FaultCluster : IAsyncDisposable
{
    private readonly TempFolder _folder;

    private FaultCluster(FaultNetwork network, TempFolder folder, Dictionary<string, NetworkNamespace> hosts)
    {
        Network = network;
        _folder = folder;
        Hosts = hosts;
    }

    public FaultNetwork Network { get; }

    public ProcessCluster Cluster { get; private set; } = null!;

    /// <summary>Each part's host, by the part's name (mariadb, etcd, logic1, broker1, ...).</summary>
    public IReadOnlyDictionary<string, NetworkNamespace> Hosts { get; }

    public NetworkNamespace HostOf(ChildNode node) => Hosts[node.Name];

    /// <summary>The slow link between a broker and the logic nodes (<see cref="StartWithSlowLinkAsync"/>), or null.</summary>
    public SlowLink? SlowLink { get; private set; }

    /// <summary>
    /// A cluster whose broker <paramref name="broker"/> (broker1, ...) reaches every logic node, and is reached by them, over a
    /// <see cref="FaultNetwork.SlowLinkAsync"/> made before any node starts, so that all their connections pass through it
    /// (without a delay until the test sets <see cref="SlowLink.Delay"/>).
    /// </summary>
    public static Task<FaultCluster> StartWithSlowLinkAsync(string broker, int logicNodes = 2, int brokers = 2, params string[] settings) =>
        StartAsync(logicNodes, brokers, 0, broker, settings);

    /// <param name="settings">Configuration overrides every node gets.</param>
    /// <param name="spareLogic">Hosts for logic nodes started later (<c>logic3</c>, ...), beside the <paramref name="logicNodes"/> started now.</param>
    public static Task<FaultCluster> StartAsync(int logicNodes = 2, int brokers = 1, int spareLogic = 0, params string[] settings) =>
        StartAsync(logicNodes, brokers, spareLogic, null, settings);

    private static async Task<FaultCluster> StartAsync(int logicNodes, int brokers, int spareLogic, string? slowBroker, string[] settings)
    {
        var network = await FaultNetwork.CreateAsync();
        var folder = TempFolder.Create("chat-faults-");
        var hosts = new Dictionary<string, NetworkNamespace>();
        var cluster = new FaultCluster(network, folder, hosts);
        try
        {
            string[] parts =
            [
                "mariadb", "etcd",
                .. Enumerable.Range(1, logicNodes + spareLogic).Select(n => $"logic{n}"),
                .. Enumerable.Range(1, brokers).Select(n => $"broker{n}"),
            ];
            foreach (var part in parts)
            {
                hosts[part] = await network.AddHostAsync(part);
            }

            if (slowBroker is not null)
            {
                cluster.SlowLink = await network.SlowLinkAsync(hosts[slowBroker], [.. hosts.Where(h => h.Key.StartsWith("logic", StringComparison.Ordinal)).Select(h => h.Value)]);
            }

            var plan = new ClusterPlan(new ClusterFolder(folder.Path), ChatExecutable.Dll, ChatExecutable.DotnetHost)
            {
                LogicNodes = logicNodes,
                Brokers = brokers,
                OwnDatabase = true,
                Settings = ["Logging:LogLevel:Default=Warning", .. settings],
                Places = part => NetworkPlace.In(network, hosts[part]),
            };
            cluster.Cluster = await ProcessCluster.StartAsync(plan, CancellationToken.None);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Cluster is { } cluster)
            {
                await cluster.DisposeAsync();
            }
        }
        finally
        {
            try
            {
                await Network.DisposeAsync();
            }
            finally
            {
                _folder.Dispose();
            }
        }
    }
}
