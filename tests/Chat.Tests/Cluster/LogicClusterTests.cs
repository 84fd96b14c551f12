using Chat.Logic;
using Chat.Logic.Housekeeping;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Chat.Testing.Cluster;
using Orleans.TestingHost;

namespace Chat.Tests.Cluster;

/// <summary>
/// Logic on several silos: the grains of one chat spread over them, and silos that die without
/// warning. Each test has its own cluster of three silos over one store.
/// </summary>
public sealed class LogicClusterTests
{
    [Fact]
    public async Task Two_hundred_visitors_calling_different_silos_are_each_matched_exactly_once()
    {
        await using var cluster = await LogicCluster.StartAsync(3);
        var visitors = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[i % 3]), $"v{i}")));

        var matches = await Task.WhenAll(visitors.Select(v => v.MatchAsync()));

        // Two who asked at the same moment in two shards may each have found the other's shard empty:
        // the shards' sweeps pair them. The sweeper follows the rules' clock, which is the test's here,
        // so the test sweeps, as often as it takes for everyone waiting to hear of a partner (a visitor
        // handed out to a shard that gave up on the answer waits again some seconds later).
        await SweepUntilPairedAsync(cluster, visitors.Where((_, i) => matches[i].Code == ResultCode.NoDataFound).ToList());

        // Whoever found a partner got it in MATCH_RESP; whoever waited hears of its partner by NewSession
        // (both of a pair do when their shards' sweep paired them, neither having asked last).
        var partnerOf = new Dictionary<ulong, (ulong Partner, ulong Session)>();
        var answered = new HashSet<ulong>();
        for (var i = 0; i < visitors.Length; i++)
        {
            var match = matches[i];
            if (match.Code == ResultCode.Success)
            {
                partnerOf.Add(visitors[i].AccountId, (match.PartnerId, match.SessionId));
                Assert.True(answered.Add(match.SessionId), "both members of one session were answered as the one who asked last");
            }
            else
            {
                Assert.Equal(ResultCode.NoDataFound, match.Code);
                var joined = await visitors[i].ExpectSignalAsync(SignalKind.NewSession);
                partnerOf.Add(visitors[i].AccountId, (joined.AccountId, joined.SessionId));
            }
        }

        Assert.Equal(200, partnerOf.Count);
        foreach (var (visitor, (partner, session)) in partnerOf)
        {
            Assert.NotEqual(visitor, partner);
            Assert.Equal((visitor, session), partnerOf[partner]);
        }

        Assert.Equal(100, partnerOf.Values.Select(p => p.Session).Distinct().Count());
        Assert.All(visitors, v => Assert.DoesNotContain(v.Received(), p => p is SignalPush { Kind: SignalKind.NewSession }));
    }

    [Fact]
    public async Task Partners_whose_grains_live_on_different_silos_chat_both_ways_in_order()
    {
        await using var cluster = await LogicCluster.StartAsync(3);
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);

        // Pairs until one has its session and its two accounts not all on one silo, each partner calling through another silo.
        ClusterVisitor alice, bob;
        ulong sessionId;
        var attempt = 0;
        while (true)
        {
            Assert.True(++attempt <= 20, "grains landed on one silo twenty times running");
            alice = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "alice");
            bob = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[1]), "bob");
            Assert.Equal(ResultCode.NoDataFound, (await alice.MatchAsync()).Code);
            var match = await bob.MatchAsync();
            sessionId = match.SessionId;
            await alice.ExpectSignalAsync(SignalKind.NewSession);

            // A reconnect activates each account's grain.
            await alice.ReconnectAsync();
            await bob.ReconnectAsync();
            var places = new[]
            {
                await cluster.SiloOfAsync(grains.Session(sessionId)),
                await cluster.SiloOfAsync(grains.Account(alice.AccountId)),
                await cluster.SiloOfAsync(grains.Account(bob.AccountId)),
            };
            if (places.Distinct().Count() > 1)
            {
                break;
            }
        }

        var sentByAlice = new List<ulong>();
        var sentByBob = new List<ulong>();
        for (var i = 0; i < 20; i++)
        {
            var fromAlice = await alice.SayAsync(sessionId, $"a{i}");
            var fromBob = await bob.SayAsync(sessionId, $"b{i}");
            Assert.Equal(ResultCode.Success, fromAlice.Code);
            Assert.Equal(ResultCode.Success, fromBob.Code);
            sentByAlice.Add(fromAlice.MsgId);
            sentByBob.Add(fromBob.MsgId);
        }

        // One order for the session: every message above the one before it, whoever sent it.
        Assert.Equal(sentByAlice.Zip(sentByBob).SelectMany(p => new[] { p.First, p.Second }).Order(), sentByAlice.Zip(sentByBob).SelectMany(p => new[] { p.First, p.Second }));
        for (var i = 0; i < 20; i++)
        {
            var toBob = await bob.ExpectAsync<DialoguePush>();
            Assert.Equal((sentByAlice[i], $"a{i}"), (toBob.MsgId, toBob.Content));
            var toAlice = await alice.ExpectAsync<DialoguePush>();
            Assert.Equal((sentByBob[i], $"b{i}"), (toAlice.MsgId, toAlice.Content));
        }
    }

    [Fact]
    public async Task A_session_whose_silo_is_killed_mid_conversation_goes_on_with_no_acknowledged_message_lost_and_no_msgId_twice()
    {
        await using var cluster = await LogicCluster.StartAsync(3);
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);
        var alice = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "alice");
        var bob = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[1]), "bob");
        await alice.MatchAsync();
        var sessionId = (await bob.MatchAsync()).SessionId;
        await alice.ExpectSignalAsync(SignalKind.NewSession);

        // The partners call through the two silos the session does not live on.
        var doomed = await cluster.SiloOfAsync(grains.Session(sessionId));
        var survivors = cluster.Silos.Where(s => s != doomed).ToArray();
        alice.Logic = cluster.LogicOn(survivors[0]);
        bob.Logic = cluster.LogicOn(survivors[1]);

        var acknowledged = new Dictionary<ulong, string>();
        async Task TalkAsync(int from, int to)
        {
            for (var i = from; i < to; i++)
            {
                foreach (var (sender, text) in new[] { (alice, $"a{i}"), (bob, $"b{i}") })
                {
                    var sent = await sender.SayAsync(sessionId, text);
                    Assert.Equal(ResultCode.Success, sent.Code);
                    Assert.True(acknowledged.TryAdd(sent.MsgId, text), $"msgId {sent.MsgId} acknowledged twice");
                }
            }
        }

        await TalkAsync(0, 10);
        await cluster.KillAsync(doomed);
        await TalkAsync(10, 20);

        // Every acknowledged message reaches its partner; a message may come again (the rebuilt session
        // replays from the last delivery mark), but never a msgId with other content.
        foreach (var (receiver, prefix) in new[] { (bob, "a"), (alice, "b") })
        {
            var expected = acknowledged.Where(m => m.Value.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(m => m.Key, m => m.Value);
            var received = new Dictionary<ulong, string>();
            while (received.Count < expected.Count)
            {
                var push = await receiver.ExpectAsync<DialoguePush>();
                Assert.Equal(expected[push.MsgId], push.Content);
                received[push.MsgId] = push.Content;
            }
        }
    }

    [Fact]
    public async Task Ids_taken_concurrently_on_three_silos_never_collide()
    {
        await using var cluster = await LogicCluster.StartAsync(3);
        var visitors = await Task.WhenAll(Enumerable.Range(0, 120).Select(i =>
            ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[i % 3]), $"v{i}")));
        var matches = await Task.WhenAll(visitors.Select(v => v.MatchAsync()));
        await SweepUntilPairedAsync(cluster, visitors.Where((_, i) => matches[i].Code == ResultCode.NoDataFound).ToList()); // as above
        var sessions = new Dictionary<ulong, ulong>();
        for (var i = 0; i < visitors.Length; i++)
        {
            sessions[visitors[i].AccountId] = matches[i].Code == ResultCode.Success
                ? matches[i].SessionId
                : (await visitors[i].ExpectSignalAsync(SignalKind.NewSession)).SessionId;
        }

        var sent = await Task.WhenAll(visitors.SelectMany(v => Enumerable.Range(0, 5).Select(i => (v, i))).Select(async p =>
            (await p.v.SayAsync(sessions[p.v.AccountId], $"m{p.i}")).MsgId));

        foreach (var ids in new[] { visitors.Select(v => v.AccountId).ToArray(), sessions.Values.Distinct().ToArray(), sent })
        {
            Assert.Equal(ids.Length, ids.Distinct().Count());
            Assert.All(ids, id => Assert.InRange(id, 1UL, IChatStore.IdLimit - 1));
        }

        Assert.Equal(60, sessions.Values.Distinct().Count());
        Assert.Equal(600, sent.Length);
    }

    [Fact]
    public async Task Visitors_waiting_when_their_matchmaker_shards_silo_dies_are_still_matched_each_once()
    {
        await using var cluster = await LogicCluster.StartAsync(3);
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);

        // Two partners ask for another stranger: they cannot get each other, so both wait.
        var alice = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "alice");
        var bob = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[1]), "bob");
        await alice.MatchAsync();
        var first = await bob.MatchAsync();
        await alice.ExpectSignalAsync(SignalKind.NewSession);
        Assert.Equal(ResultCode.NoDataFound, (await alice.MatchAsync()).Code);
        Assert.Equal(ResultCode.NoDataFound, (await bob.MatchAsync()).Code);

        var doomed = await cluster.SiloOfAsync(grains.MatchmakerOf(alice.AccountId));
        var survivors = cluster.Silos.Where(s => s != doomed).ToArray();
        await cluster.KillAsync(doomed);

        // Alice's shard comes back on another silo with her still waiting: two newcomers get one each.
        var partners = new Dictionary<ulong, ulong>();
        for (var i = 0; i < 2; i++)
        {
            var late = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(survivors[i]), $"late{i}");
            var match = await RetriedWhileUnavailableAsync(late.MatchAsync);
            var (partnerId, sessionId) = (match.PartnerId, match.SessionId);
            if (match.Code == ResultCode.NoDataFound)
            {
                // The shard was not back yet: the newcomer waits, and a sweep pairs it once the shard is.
                var signal = await late.ExpectSignalAsync(SignalKind.NewSession);
                (partnerId, sessionId) = (signal.AccountId, signal.SessionId);
            }
            else
            {
                Assert.Equal(ResultCode.Success, match.Code);
            }

            Assert.Contains(partnerId, new[] { alice.AccountId, bob.AccountId });
            Assert.NotEqual(first.SessionId, sessionId);
            partners.Add(partnerId, late.AccountId); // throws if a waiting visitor were paired twice
            var waiting = partnerId == alice.AccountId ? alice : bob;
            var joined = await waiting.ExpectSignalAsync(SignalKind.NewSession);
            Assert.Equal((late.AccountId, sessionId), (joined.AccountId, joined.SessionId));
        }
    }

    [Fact]
    public async Task A_grace_period_running_when_its_silo_dies_ends_with_PartnerExit_after_the_grace_period_on_another_silo()
    {
        await using var cluster = await LogicCluster.StartAsync(3, "Chat:Logic:GracePeriod=00:00:30", "Chat:Logic:SweepInterval=00:00:01");
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);
        var alice = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "alice");
        var bob = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "bob");
        await alice.MatchAsync();
        var sessionId = (await bob.MatchAsync()).SessionId;
        await alice.ExpectSignalAsync(SignalKind.NewSession);

        await bob.LoseSocketAsync();
        await alice.ExpectSignalAsync(SignalKind.PartnerAway);

        // The silo whose account grain started Bob's grace period dies; Alice talks through another.
        var doomed = await cluster.SiloOfAsync(grains.Account(bob.AccountId));
        var survivor = cluster.Silos.First(s => s != doomed);
        alice.Logic = cluster.LogicOn(survivor);
        await cluster.KillAsync(doomed);

        // 29 s on: a sweep on a surviving silo ends nothing yet.
        cluster.Clock.Advance(TimeSpan.FromSeconds(29));
        await SweepOnAsync(cluster, survivor);
        Assert.Equal(ResultCode.Success, (await alice.SayAsync(sessionId, "still there?")).Code);
        Assert.DoesNotContain(alice.Received(), p => p is SignalPush { Kind: SignalKind.PartnerExit });

        // 30 s: the grace period is over, and the store says so.
        cluster.Clock.Advance(TimeSpan.FromSeconds(1));
        await SweepOnAsync(cluster, survivor);
        var exit = await alice.ExpectSignalAsync(SignalKind.PartnerExit);
        Assert.Equal((bob.AccountId, sessionId), (exit.AccountId, exit.SessionId));
    }

    /// <summary>Runs the housekeeping sweep now, from the given silo (a barrier: whatever it ends has ended when it returns).</summary>
    private static async Task SweepOnAsync(LogicCluster cluster, InProcessSiloHandle silo)
    {
        var housekeeper = cluster.ServiceOn<ChatGrains>(silo).Housekeeper;
        await RetriedWhileUnavailableAsync(async () =>
        {
            await housekeeper.Sweep();
            return true;
        });
    }

    /// <summary>Calls again while the grain it needs is on a silo not yet known to be dead.</summary>
    private static async Task<T> RetriedWhileUnavailableAsync<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + ClusterVisitor.Timeout;
        while (true)
        {
            try
            {
                var result = await call();
                if (result is not MatchResult { Code: ResultCode.InternalErr } || DateTime.UtcNow > deadline)
                {
                    return result;
                }
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    /// <summary>
    /// Sweeps the matchmaker shards (whose sweeper follows the rules' clock, the test's here) as often as it takes for
    /// every visitor of <paramref name="waiting"/> to hear of a partner: two who asked at the same moment in two shards
    /// may each have found the other's shard empty, and the sweeps pair them.
    /// </summary>
    private static async Task SweepUntilPairedAsync(LogicCluster cluster, List<ClusterVisitor> waiting)
    {
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);
        var deadline = DateTime.UtcNow + ClusterVisitor.Timeout;
        while (waiting.Any(v => !v.Received().OfType<SignalPush>().Any(s => s.Kind == SignalKind.NewSession)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{waiting.Count(v => !v.Received().OfType<SignalPush>().Any(s => s.Kind == SignalKind.NewSession))} visitors still waiting after {ClusterVisitor.Timeout.TotalSeconds} s of sweeps");
            await grains.EveryMatchmaker(shard => shard.Sweep());
        }
    }
}
