using Chat.Logic.Accounts;
using Chat.Logic.Housekeeping;
using Chat.Logic.Matching;
using Chat.Logic.Sessions;
using Microsoft.Extensions.Options;

namespace Chat.Logic;

/// <summary>
/// References to the chat's grains. <see cref="IGrainFactory.GetGrain{T}(long, string?)"/> works
/// out the grain's type from the interface by reflection on every call (a large share of a
/// message's allocations, docs/benchmarks.md); here that is done once per grain kind, and a
/// reference costs only its id.
/// </summary>
internal sealed class ChatGrains(IGrainFactory factory, IOptions<MatchingOptions> matching)
{
    private readonly IMatchmakerGrain[] _matchmakers = new IMatchmakerGrain[matching.Value.Shards];
    private Kind? _account;
    private Kind? _session;
    private IHousekeeperGrain? _housekeeper;

    public ISessionGrain Session(ulong sessionId) => Get<ISessionGrain>(ref _session, sessionId);

    public IAccountGrain Account(ulong accountId) => Get<IAccountGrain>(ref _account, accountId);

    /// <summary>The matchmaker shards of the cluster.</summary>
    public int MatchmakerShards => _matchmakers.Length;

    /// <summary>Matchmaker shard <paramref name="shard"/>.</summary>
    public IMatchmakerGrain Matchmaker(int shard) => _matchmakers[shard] ??= factory.GetGrain<IMatchmakerGrain>(shard);

    /// <summary>The matchmaker shard the account waits in.</summary>
    public IMatchmakerGrain MatchmakerOf(ulong accountId) => Matchmaker(MatchShards.Of(accountId, _matchmakers.Length));

    /// <summary>Asks every matchmaker shard, all at once.</summary>
    public Task EveryMatchmaker(Func<IMatchmakerGrain, Task> ask) => Task.WhenAll(Enumerable.Range(0, _matchmakers.Length).Select(shard => ask(Matchmaker(shard))));

    public IHousekeeperGrain Housekeeper => _housekeeper ??= factory.GetGrain<IHousekeeperGrain>(0);

    private T Get<T>(ref Kind? kind, ulong id) where T : IGrainWithIntegerKey
    {
        var known = kind ??= Resolve<T>();
        return (T)factory.GetGrain(GrainId.Create(known.Type, GrainIdKeyExtensions.CreateIntegerKey((long)id)), known.Interface);
    }

    private Kind Resolve<T>() where T : IGrainWithIntegerKey
    {
        var reference = (GrainReference)(object)factory.GetGrain<T>(0);
        return new Kind(reference.GrainId.Type, reference.InterfaceType);
    }

    private sealed record Kind(GrainType Type, GrainInterfaceType Interface);
}
