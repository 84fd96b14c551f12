using Chat.Logic;
using Chat.Logic.Matching;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Chat.Tests.Infrastructure;
using Chat.Testing.Cluster;
using Orleans.TestingHost;

namespace Chat.Tests.Cluster;

/// <summary>
/// Issue 22: the silo holding a matchmaker shard dies in the middle of a match storm. Its shard comes
/// back on another silo from the store; nobody ends up paired twice (in two sessions, or with two
/// partners), and nobody is lost: everyone is paired in the end, asking again as a client does.
/// </summary>
public sealed class MatchStormSiloDeathTests
{
    private const int Visitors = 300;

    [Fact]
    public async Task A_shards_silo_killed_in_a_match_storm_loses_nobody_and_pairs_nobody_twice()
    {
        // The rules' clock is the test's: it sweeps the shards itself, from a silo that lives.
        await using var cluster = await LogicCluster.StartAsync(3, "Chat:Matching:SweepInterval=01:00:00", "Chat:Matching:Shards=4", "Chat:Logic:MaxActiveSessions=1");
        var grains0 = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);

        // Every shard gets an activation, each asked for from a silo in turn: placement prefers the silo that asks,
        // so asked from the first silo alone they all landed there now and then.
        for (var shard = 0; shard < grains0.MatchmakerShards; shard++)
        {
            await cluster.ServiceOn<ChatGrains>(cluster.Silos[shard % cluster.Silos.Count]).Matchmaker(shard).Sweep();
        }

        // The doomed silo holds at least one shard (the primary silo stays: the test cluster's client talks through it).
        InProcessSiloHandle? doomed = null;
        for (var shard = 0; shard < grains0.MatchmakerShards && doomed is null; shard++)
        {
            var silo = await cluster.SiloOfAsync(grains0.Matchmaker(shard));
            if (silo != cluster.Silos[0])
            {
                doomed = silo;
            }
        }

        Assert.True(doomed is not null, "every shard landed on the first silo");
        var survivors = cluster.Silos.Where(s => s != doomed).ToArray();
        var grains = cluster.ServiceOn<ChatGrains>(survivors[0]);

        var visitors = await Task.WhenAll(Enumerable.Range(0, Visitors).Select(i =>
            ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(survivors[i % survivors.Length]), $"v{i}")));
        for (var i = 0; i < Visitors; i += 3)
        {
            visitors[i].Logic = cluster.LogicOn(doomed); // a third ask through the silo that dies
        }

        // The storm: everyone asks at once, and the silo dies while the answers are on their way.
        var doomedLogic = cluster.LogicOn(doomed);
        var settled = new HashSet<ulong>();
        void Settle(ClusterVisitor visitor, MatchResult? answer)
        {
            // Paired: answered with a partner, told by NewSession, or refused as already in a chat (its answer was lost with the silo).
            if (answer is { Code: ResultCode.Success or ResultCode.ParamErr }
                || visitor.Received().OfType<SignalPush>().Any(s => s.Kind == SignalKind.NewSession))
            {
                settled.Add(visitor.AccountId);
            }
        }

        var storm = visitors.Select(v => AskAsync(v)).ToArray();
        await Task.WhenAny(Task.WhenAll(storm), Task.Delay(TimeSpan.FromMilliseconds(50)));
        await cluster.KillAsync(doomed);
        var answers = await Task.WhenAll(storm);
        foreach (var visitor in visitors.Where(v => v.Logic == doomedLogic))
        {
            visitor.Logic = cluster.LogicOn(survivors[0]); // its broker calls another logic node now
        }

        // Everyone not yet paired asks again, as the web client does, while the shards sweep.
        for (var i = 0; i < Visitors; i++)
        {
            Settle(visitors[i], answers[i]);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (settled.Count < Visitors && DateTime.UtcNow < deadline)
        {
            await grains.EveryMatchmaker(shard => shard.Sweep());
            var asking = visitors.Where(v => !settled.Contains(v.AccountId)).ToArray();
            var again = await Task.WhenAll(asking.Select(v => AskAsync(v)));
            for (var i = 0; i < asking.Length; i++)
            {
                Settle(asking[i], again[i]);
            }
        }

        // What each one's chat is, as a reconnect tells it: one at most (MaxActiveSessions=1), so a second pairing would show.
        var sessionOf = await SessionsAsync(visitors);
        Assert.Equal(Visitors, sessionOf.Count); // nobody lost
        foreach (var (accountId, session) in sessionOf)
        {
            Assert.NotEqual(accountId, session.PartnerId);
            Assert.Equal(accountId, sessionOf[session.PartnerId].PartnerId); // the partner's one session is this one
            Assert.Equal(session.SessionId, sessionOf[session.PartnerId].SessionId);
        }

        Assert.Equal(Visitors / 2, sessionOf.Values.Select(s => s.SessionId).Distinct().Count());
    }

    [Fact]
    public async Task A_visitor_handed_out_just_before_its_shards_silo_died_is_not_paired_again_by_the_shard_rebuilt_from_the_store()
    {
        // The store holds new sessions back on demand: the pair made of a handed-out visitor is not written when the silo dies.
        var store = new SessionGate();
        await using var cluster = await LogicCluster.StartAsync(store, 3, "Chat:Matching:SweepInterval=01:00:00", "Chat:Matching:Shards=4", "Chat:Logic:MaxActiveSessions=1");
        var grains0 = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);

        // Vera's shard is on a silo that dies (not the first: the test cluster's client talks through it), Sam's on another.
        var (shardSilos, veras, doomed, sams) = await DoomedAndOtherShardAsync(cluster, grains0);
        var logic = cluster.LogicOn(cluster.Silos[0]);
        var vera = await InShardAsync(cluster, logic, "vera", veras, shardSilos.Length);
        var wanda = await InShardAsync(cluster, logic, "wanda", veras, shardSilos.Length);
        var sam = await InShardAsync(cluster, logic, "sam", sams, shardSilos.Length);
        Assert.Equal(ResultCode.NoDataFound, (await vera.MatchAsync()).Code);

        // Sam's shard takes Vera out of hers and pairs them; their session is not written yet.
        store.Hold();
        var samAsked = sam.MatchAsync();
        await store.Held;
        Assert.True(await grains0.Matchmaker(sams).Holds(sam.AccountId, vera.AccountId), "Sam's shard did not take Vera");

        // Vera's silo dies; her shard is rebuilt elsewhere from the store, which still has her waiting.
        await cluster.KillAsync(doomed);

        // She asks again (her answer was never heard of): she is in a chat already, being made.
        Assert.Equal(ResultCode.ParamErr, (await AskUntilAnsweredAsync(vera)).Code);

        // Wanda, in the same shard, is not given her; once the writes go through, Vera is in one chat, with Sam.
        var wandaAsked = AskUntilAnsweredAsync(wanda);
        store.Release();
        Assert.Equal((ResultCode.Success, vera.AccountId), ((await samAsked).Code, (await samAsked).PartnerId));
        Assert.Equal(ResultCode.NoDataFound, (await wandaAsked).Code);
        var sessions = await SessionsAsync([vera, sam, wanda]);
        Assert.Equal(sam.AccountId, sessions[vera.AccountId].PartnerId);
        Assert.False(sessions.ContainsKey(wanda.AccountId));
    }

    [Fact]
    public async Task A_visitor_whose_dying_shard_was_pairing_her_with_one_it_took_from_another_shard_waits_again_and_so_does_he()
    {
        var store = new SessionGate();
        await using var cluster = await LogicCluster.StartAsync(store, 3, "Chat:Matching:SweepInterval=01:00:00", "Chat:Matching:Shards=4", "Chat:Logic:MaxActiveSessions=1");
        var grains0 = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);
        var (shardSilos, veras, doomed, petes) = await DoomedAndOtherShardAsync(cluster, grains0);
        var logic = cluster.LogicOn(cluster.Silos[0]);
        var vera = await InShardAsync(cluster, logic, "vera", veras, shardSilos.Length);
        var pete = await InShardAsync(cluster, logic, "pete", petes, shardSilos.Length);

        // Vera speaks English, Pete French: they may be paired once their fallback delay has passed.
        var english = new MatchWish(Lang: "en");
        Assert.Equal(ResultCode.NoDataFound, (await vera.MatchAsync(english)).Code);
        Assert.Equal(ResultCode.NoDataFound, (await pete.MatchAsync(new MatchWish(Lang: "fr"))).Code);
        cluster.Clock.Advance(TimeSpan.FromSeconds(5));

        // Vera asks again: her shard takes Pete out of his and pairs them; their session is not written when her silo dies.
        store.Hold();
        var veraAsked = AskAsync(vera, english);
        await store.Held;
        Assert.True(await grains0.Matchmaker(veras).Holds(vera.AccountId, pete.AccountId), "Vera's shard did not take Pete");
        await cluster.KillAsync(doomed);
        store.Fail(); // what the dead silo had not written is lost with it
        await veraAsked;

        // Her shard, rebuilt from the store, has her waiting: the chat being made died with its silo.
        Assert.Equal(ResultCode.NoDataFound, (await AskUntilAnsweredAsync(vera, english)).Code);

        // Pete's shard takes him back once hers says it holds no such pair; then they are paired, once.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        MatchResult? answer = null;
        while (answer is not { Code: ResultCode.Success } && !vera.Received().OfType<SignalPush>().Any(s => s.Kind == SignalKind.NewSession))
        {
            Assert.True(DateTime.UtcNow < deadline, "Vera and Pete were not paired within a minute");
            await Task.Delay(TimeSpan.FromMilliseconds(200)); // the pace of a client asking again, not a wait for an event
            await grains0.EveryMatchmaker(shard => shard.Sweep());
            answer = await AskAsync(vera, english);
        }

        var sessions = await SessionsAsync([vera, pete]);
        Assert.Equal(pete.AccountId, sessions[vera.AccountId].PartnerId);
        Assert.Equal(vera.AccountId, sessions[pete.AccountId].PartnerId);
    }

    /// <summary>A memory store that, once told to, holds back every batch with a new session in it (and so the writes queued behind it) until released.</summary>
    private sealed class SessionGate : MemoryStoreWrapper
    {
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _holding;

        public Task Held => _held.Task;

        public void Hold() => _holding = true;

        public void Release() => _released.TrySetResult();

        /// <summary>What was held back fails (as the writes of a process that died), and writes go through again.</summary>
        public void Fail()
        {
            _holding = false;
            _released.TrySetException(new InvalidOperationException("the silo that made these writes died"));
        }

        public override async Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
        {
            if (_holding && batch.Any(write => write is StoreWrite.NewSession))
            {
                _held.TrySetResult();
                await _released.Task;
            }

            await Inner.WriteAsync(batch, outcomes, cancellationToken);
        }
    }

    /// <summary>A new visitor (asking through <paramref name="logic"/>) whose account waits in matchmaker shard <paramref name="shard"/>.</summary>
    /// <summary>
    /// Activates every shard (a sweep each, from the silos in turn) and picks one on a silo that may die
    /// (not the first: the test cluster's client talks through it) and one on another silo.
    /// </summary>
    private static async Task<(InProcessSiloHandle[] ShardSilos, int Doomed, InProcessSiloHandle DoomedSilo, int Other)> DoomedAndOtherShardAsync(LogicCluster cluster, ChatGrains grains)
    {
        var shardSilos = new InProcessSiloHandle[grains.MatchmakerShards];
        for (var shard = 0; shard < shardSilos.Length; shard++)
        {
            await cluster.ServiceOn<ChatGrains>(cluster.Silos[shard % cluster.Silos.Count]).Matchmaker(shard).Sweep();
            shardSilos[shard] = await cluster.SiloOfAsync(grains.Matchmaker(shard));
        }

        var doomed = Array.FindIndex(shardSilos, silo => silo != cluster.Silos[0]);
        Assert.True(doomed >= 0, "every shard landed on the first silo");
        var other = Array.FindIndex(shardSilos, silo => silo != shardSilos[doomed]);
        Assert.True(other >= 0, "every shard landed on one silo");
        return (shardSilos, doomed, shardSilos[doomed], other);
    }

    private static async Task<ClusterVisitor> InShardAsync(LogicCluster cluster, ILogic logic, string name, int shard, int shards)
    {
        while (true)
        {
            var visitor = await ClusterVisitor.CreateAsync(cluster.Broker, logic, name);
            if (MatchShards.Of(visitor.AccountId, shards) == shard)
            {
                return visitor;
            }
        }
    }

    /// <summary>MATCH_REQ until the cluster answers it (not while a dead silo's shard moves), as a client asks again.</summary>
    private static async Task<MatchResult> AskUntilAnsweredAsync(ClusterVisitor visitor, MatchWish? wish = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (await AskAsync(visitor, wish) is { Code: not (ResultCode.InternalErr or ResultCode.UnknownErr) } answer)
            {
                return answer;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{visitor.NickName}'s MATCH_REQ was not answered within a minute");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // the pace of a client asking again, not a wait for an event
        }
    }

    /// <summary>MATCH_REQ; a logic node that died or answers "try again" is not an answer, nor a failure of the test.</summary>
    private static async Task<MatchResult?> AskAsync(ClusterVisitor visitor, MatchWish? wish = null)
    {
        try
        {
            return await visitor.MatchAsync(wish ?? MatchWish.Anyone);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            return null; // the silo it asked through died: it asks again in the next round
        }
    }

    /// <summary>Each visitor's active sessions as a reconnect tells them; none has more than one (Chat:Logic:MaxActiveSessions is 1).</summary>
    private static async Task<Dictionary<ulong, SessionSummary>> SessionsAsync(ClusterVisitor[] visitors)
    {
        var found = new Dictionary<ulong, SessionSummary>();
        foreach (var visitor in visitors)
        {
            var reconnected = await visitor.ReconnectAsync();
            Assert.Equal(ResultCode.Success, reconnected.Code);
            Assert.True(reconnected.Sessions.Count <= 1, $"{visitor.NickName} is in {reconnected.Sessions.Count} sessions");
            if (reconnected.Sessions.Count == 1)
            {
                found[visitor.AccountId] = reconnected.Sessions[0];
            }
        }

        return found;
    }
}
