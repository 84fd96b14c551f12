using Chat.Logic;
using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Chat.Testing.Cluster;

/// <summary>
/// Several logic silos in this process (Orleans' <see cref="InProcessTestCluster"/>), each with the
/// chat's logic as the all-in-one server runs it: its own store writer and id blocks, over one
/// shared store (the cluster's database) and one <see cref="RecordingBroker"/>. Silos can be
/// killed without warning; the others carry on with what the store holds.
/// </summary>
public sealed class LogicCluster : IAsyncDisposable
{
    private readonly InProcessTestCluster _cluster;

    private LogicCluster(InProcessTestCluster cluster, IChatStore store, RecordingBroker broker, FakeTimeProvider clock)
    {
        _cluster = cluster;
        Store = store;
        Broker = broker;
        Clock = clock;
    }

    /// <summary>The database every silo shares.</summary>
    internal IChatStore Store { get; }

    public RecordingBroker Broker { get; }

    /// <summary>The clock of the chat's rules on every silo (grace periods, typing); Orleans itself keeps real time.</summary>
    public FakeTimeProvider Clock { get; }

    public IReadOnlyList<InProcessSiloHandle> Silos => _cluster.Silos;

    public static Task<LogicCluster> StartAsync(short silos, params string[] settings) => StartAsync(new MemoryChatStore(), silos, settings);

    /// <summary>A cluster whose silos share <paramref name="store"/> (one that holds writes back, say).</summary>
    internal static Task<LogicCluster> StartAsync(IChatStore store, short silos, params string[] settings) => StartAsync(store, silos, onSilo: null, settings);

    /// <summary>A cluster whose silos share <paramref name="store"/>, each silo seeing it through <paramref name="onSilo"/> (given the silo's services).</summary>
    internal static async Task<LogicCluster> StartAsync(IChatStore store, short silos, Func<IServiceProvider, IChatStore, IChatStore>? onSilo, params string[] settings)
    {
        var broker = new RecordingBroker("test-broker");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(settings.Select(s => s.Split('=', 2)).ToDictionary(kv => kv[0], kv => (string?)kv[1]));
            host.Services.AddSingleton<IChatStore>(services => onSilo is null ? store : onSilo(services, store));
            host.Services.AddSingleton<IPushChannel>(broker);
            host.Services.AddSingleton<TimeProvider>(clock);
            host.Services.AddChatLogic();
        });
        builder.ConfigureSilo((_, silo) =>
        {
            // As in all-in-one: the rules follow the injected clock, Orleans' own loops real time.
            silo.Services.AddKeyedSingleton<TimeProvider>(KeyedService.AnyKey, TimeProvider.System);

            // Grains spread over the silos as they would over separate machines. Orleans' default
            // (resource-optimised) placement weighs each silo's CPU and memory, which silos sharing one
            // process share too, so it keeps a new grain on the silo that called for it: a test asking
            // for partners on two silos could see every grain of a chat land on one, again and again.
            silo.Services.AddSingleton<PlacementStrategy, RandomPlacement>();

            // A killed silo is declared dead within a few seconds, so its grains come back elsewhere.
            silo.Configure<ClusterMembershipOptions>(membership =>
            {
                membership.ProbeTimeout = TimeSpan.FromSeconds(1);
                membership.NumMissedProbesLimit = 2;
                membership.NumVotesForDeathDeclaration = 1;
            });
        });

        var cluster = builder.Build();
        await cluster.DeployAsync().Within(TimeSpan.FromSeconds(60), "starting the logic cluster");
        return new LogicCluster(cluster, store, broker, clock);
    }

    /// <summary>The logic a broker would call on this silo.</summary>
    public ILogic LogicOn(InProcessSiloHandle silo) => silo.ServiceProvider.GetRequiredService<ILogic>();

    public T ServiceOn<T>(InProcessSiloHandle silo) where T : notnull => silo.ServiceProvider.GetRequiredService<T>();

    /// <summary>The silo that holds the grain's activation (call the grain first, so it has one).</summary>
    public async Task<InProcessSiloHandle> SiloOfAsync(IAddressable grain)
    {
        var address = await _cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain)
            ?? throw new InvalidOperationException($"{grain} has no activation");
        return _cluster.Silos.Single(s => s.SiloAddress.Equals(address));
    }

    /// <summary>Stops the silo at once, as a crash would: no deactivation, no goodbye to the others.</summary>
    public Task KillAsync(InProcessSiloHandle silo) => _cluster.KillSiloAsync(silo).Within(TimeSpan.FromSeconds(60), $"killing {silo.Name}");

    /// <summary>A grain reference made by a surviving silo (the test's own client may be unaware of the cluster's changes).</summary>
    public IGrainFactory GrainsOn(InProcessSiloHandle silo) => silo.ServiceProvider.GetRequiredService<IGrainFactory>();

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();
}
