using System.Diagnostics;
using Chat.Broker;
using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Chat.Tests.Cluster;

/// <summary>
/// The distributed `chat` as deployed: MariaDB, etcd, two logic nodes (an Orleans cluster) and two
/// brokers, each a child process; visitors on real WebSockets, nodes killed with SIGKILL.
/// </summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    /// <summary>Long enough for Orleans to declare a killed logic node dead and move its grains.</summary>
    private static readonly TimeSpan FailoverLimit = TimeSpan.FromSeconds(60);

    private int _retries;

    [Fact]
    public async Task Two_hundred_visitors_spread_over_two_brokers_are_matched_in_pairs_and_chat_with_partners_on_the_other_broker()
    {
        const int Pairs = 100, Messages = 5;
        await using var cluster = await ProcessCluster.StartAsync();
        var (firsts, seconds) = (new TestClient[Pairs], new TestClient[Pairs]);
        var sessions = new ulong[Pairs];
        try
        {
            // Pair by pair, so each pair is known: the first waits on one broker, the second comes on the other.
            await Task.WhenAll(Enumerable.Range(0, Pairs).Select(async i =>
            {
                firsts[i] = await VisitorAsync(cluster.Brokers[i % 2], $"first{i}");
                seconds[i] = await VisitorAsync(cluster.Brokers[(i + 1) % 2], $"second{i}");
            }));
            for (var i = 0; i < Pairs; i++)
            {
                (_, _, sessions[i]) = await Pairing.PairAsync(Task.FromResult(firsts[i]), Task.FromResult(seconds[i]));
            }

            Assert.Equal(Pairs, sessions.Distinct().Count());

            // Started with --urls, every node listens where it was told without Kestrel warning that it ignores an address.
            Assert.All(cluster.Logic.Concat(cluster.Brokers), node => Assert.DoesNotContain("Overriding address", node.Output, StringComparison.Ordinal));

            // Each broker counts its own sockets for its operators; together, everyone.
            using var http = new HttpClient();
            var counted = 0;
            foreach (var broker in cluster.Brokers)
            {
                var metrics = await http.GetStringAsync(new Uri(broker.HttpUri, "/metrics"));
                counted += int.Parse(metrics.Split('\n').Single(line => line.StartsWith("chat_broker_connections{", StringComparison.Ordinal)).Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
            }

            Assert.Equal(2 * Pairs, counted);
            await Task.WhenAll(Enumerable.Range(0, Pairs).Select(async i =>
            {
                var sent = new List<ulong>();
                for (var m = 0; m < Messages; m++)
                {
                    sent.Add((await SentAsync(firsts[i], sessions[i], $"{i}:{m}", $"r{m}")).MsgId);
                    sent.Add((await SentAsync(seconds[i], sessions[i], $"{i}:{m} back", $"b{m}")).MsgId);
                }

                for (var m = 0; m < Messages; m++)
                {
                    var there = await seconds[i].ExpectAsync("PUSH_DIALOGUE_REQ");
                    Assert.Equal((sent[2 * m], $"{i}:{m}"), (there.ULong("msgId"), there.String("content")));
                    var back = await firsts[i].ExpectAsync("PUSH_DIALOGUE_REQ");
                    Assert.Equal((sent[(2 * m) + 1], $"{i}:{m} back"), (back.ULong("msgId"), back.String("content")));
                }
            }));
        }
        finally
        {
            await DisposeAllAsync(firsts.Concat(seconds));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_logic_node_killed_or_stopped_while_twenty_pairs_chat_costs_no_acknowledged_message_and_delivers_none_twice(bool killed)
    {
        const int Pairs = 20, Before = 10, During = 20, After = 30;
        await using var cluster = await ProcessCluster.StartAsync();
        var visitors = new List<TestClient>();
        try
        {
            var pairs = await PairsAcrossBrokersAsync(cluster, Pairs, visitors);

            var sentBy = visitors.ToDictionary(v => v, _ => new List<(ulong MsgId, string Content)>());
            async Task TalkAsync(int from, int to) => await Task.WhenAll(pairs.SelectMany(p => new[] { (p.A, p.SessionId), (p.B, p.SessionId) }).Select(async s =>
            {
                for (var m = from; m < to; m++)
                {
                    var text = $"{s.Item1.AccountId}:{m}";
                    sentBy[s.Item1].Add(await SentAsync(s.Item1, s.SessionId, text, $"m{m}"));
                }
            }));

            await TalkAsync(0, Before);

            // SIGKILL while the pairs go on talking: sends fail (InternalErr) until Orleans has declared
            // the node dead and the grains it held are active again on the other one; senders retry.
            // SIGTERM: the node leaves etcd and the cluster, ends the brokers' send streams and its
            // grains; it must not wait for the host's shutdown timeout (30 s) on a stream that never ends.
            var clock = Stopwatch.StartNew();
            var gone = killed ? cluster.Logic[0].KillAsync() : cluster.Logic[0].StopAsync(TimeSpan.FromSeconds(25));
            await TalkAsync(Before, During);
            await gone;
            await TalkAsync(During, After); // and once it is surely dead
            output.WriteLine($"{Pairs * 2 * (After - Before)} messages sent across the {(killed ? "kill" : "stop")} in {clock.Elapsed.TotalSeconds:0.0} s, {_retries} sends retried");

            // Each visitor gets exactly what its partner was told was sent: once each, in order.
            foreach (var (a, b, _) in pairs)
            {
                await ReceivesExactlyAsync(b, sentBy[a]);
                await ReceivesExactlyAsync(a, sentBy[b]);
            }
        }
        finally
        {
            await DisposeAllAsync(visitors);
        }
    }

    [Fact]
    public async Task A_logic_node_that_hangs_is_replaced_and_when_it_wakes_it_leaves_instead_of_acting_on_chats_it_no_longer_holds()
    {
        const int Pairs = 6;
        await using var cluster = await ProcessCluster.StartAsync();
        var visitors = new List<TestClient>();
        try
        {
            var pairs = await PairsAcrossBrokersAsync(cluster, Pairs, visitors);

            var sent = pairs.ToDictionary(p => p.A, _ => new List<(ulong MsgId, string Content)>());
            async Task TalkAsync(int m) => await Task.WhenAll(pairs.Select(async p => sent[p.A].Add(await SentAsync(p.A, p.SessionId, $"{p.A.AccountId}:{m}", $"m{m}"))));

            await TalkAsync(0);
            var hung = cluster.Logic[0];
            hung.Pause(); // SIGSTOP: it holds its sockets and its grains, and answers nothing
            var clock = Stopwatch.StartNew();
            await TalkAsync(1);
            output.WriteLine($"chats went on {clock.Elapsed.TotalSeconds:0.0} s after the node hung, {_retries} sends retried");
            await cluster.WaitUntilDeclaredDeadAsync(hung, FailoverLimit);
            output.WriteLine($"declared dead {clock.Elapsed.TotalSeconds:0.0} s after it hung");

            // Declared dead while it slept, it must not come back as a second owner of the chats now on
            // the other node: Orleans stops it as soon as it learns, and only the living node answers.
            hung.Resume();
            await Task.WhenAll(TalkAsync(2), hung.ExitedAsync(FailoverLimit));
            output.WriteLine($"it left {clock.Elapsed.TotalSeconds:0.0} s after it hung");
            await TalkAsync(3);
            foreach (var (a, b, _) in pairs)
            {
                await ReceivesExactlyAsync(b, sent[a]);
            }
        }
        finally
        {
            await DisposeAllAsync(visitors);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Visitors_of_a_broker_that_goes_away_resume_on_the_other_and_miss_nothing(bool killed)
    {
        // A grace period that outlasts Bob's retries while the other broker takes over (on a loaded machine,
        // 2 s did not: his first message found the chat ended).
        await using var cluster = await ProcessCluster.StartAsync(settings: "Chat:Logic:GracePeriod=00:00:05");
        var (doomed, survivor) = (cluster.Brokers[0], cluster.Brokers[1]);
        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(doomed, "alice"), VisitorAsync(survivor, "bob"));
        await using var b = bob;
        var (carol, dave, daveSession) = await Pairing.PairAsync(VisitorAsync(doomed, "carol"), VisitorAsync(survivor, "dave"));
        await using var c = carol;
        await using var d = dave;
        await SentAsync(alice, sessionId, "before", "a0");
        Assert.Equal("before", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        if (killed)
        {
            await doomed.KillAsync();
        }
        else
        {
            await doomed.StopAsync();
            Assert.Equal(BrokerExtensions.ServiceRestart, await alice.Closed.WaitAsync(TestClient.Timeout));
        }

        // Bob talks on while Alice is away; she comes back through the other broker with her account.
        var meanwhile = new List<(ulong MsgId, string Content)>();
        for (var m = 0; m < 5; m++)
        {
            meanwhile.Add(await SentAsync(bob, sessionId, $"meanwhile {m}", $"b{m}"));
        }

        await alice.DisposeAsync();
        var (aliceBack, resumed) = await alice.ReconnectOnNewSocketAsync(survivor.WebSocketUri);
        await using var a = aliceBack;
        Assert.Equal(0, resumed.Code());
        await ReceivesExactlyAsync(aliceBack, meanwhile);
        var reply = await SentAsync(aliceBack, sessionId, "back", "a1");
        Assert.Equal(reply.MsgId, (await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "back")).ULong("msgId"));

        // Carol never comes back: logic finds her broker gone (or told it so), her grace period runs, and Dave is told.
        await dave.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == daveSession, FailoverLimit);

        // Alice came back in time: Bob was never told she left (that she was away, perhaps).
        await bob.BarrierAsync();
        Assert.DoesNotContain(bob.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") == "PartnerExit");
    }

    [Fact]
    public async Task A_visitor_left_waiting_on_a_broker_that_crashed_and_came_back_is_no_longer_offered_as_a_partner()
    {
        await using var cluster = await ProcessCluster.StartAsync();
        var (doomed, survivor) = (cluster.Brokers[0], cluster.Brokers[1]);
        await using var ghost = await VisitorAsync(doomed, "ghost");
        Assert.Equal(4, (await ghost.RequestAsync(new { cmd = "MATCH_REQ", accountId = ghost.AccountId }, "MATCH_RESP")).Code()); // waiting

        // The broker crashes and is back on its address (a new incarnation) long before logic would
        // find it silent: logic learns from its start that the ghost's socket died with the old one.
        await doomed.KillAsync();
        await doomed.StartAgainAsync();

        // A newcomer waits for someone real instead of being paired with the ghost.
        await using var newcomer = await VisitorAsync(survivor, "newcomer");
        Assert.Equal(4, (await newcomer.RequestAsync(new { cmd = "MATCH_REQ", accountId = newcomer.AccountId }, "MATCH_RESP")).Code());
    }

    /// <summary>Pairs whose two visitors are on different brokers (a on one, b on the other, alternating); every visitor is added to <paramref name="visitors"/> to be closed.</summary>
    private static async Task<List<(TestClient A, TestClient B, ulong SessionId)>> PairsAcrossBrokersAsync(ProcessCluster cluster, int count, List<TestClient> visitors)
    {
        var pairs = new List<(TestClient A, TestClient B, ulong SessionId)>();
        for (var i = 0; i < count; i++)
        {
            var pair = await Pairing.PairAsync(VisitorAsync(cluster.Brokers[i % 2], $"a{i}"), VisitorAsync(cluster.Brokers[(i + 1) % 2], $"b{i}"));
            visitors.AddRange([pair.A, pair.B]);
            pairs.Add(pair);
        }

        return pairs;
    }

    private static async Task<TestClient> VisitorAsync(ChildNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }

    /// <summary>
    /// Sends with one requestId until logic takes it, as the web client does: InternalErr while a
    /// grain's node is dead and not yet declared so, and retrying with the same requestId never stores twice.
    /// </summary>
    private async Task<(ulong MsgId, string Content)> SentAsync(TestClient sender, ulong sessionId, string content, string requestId)
    {
        var deadline = DateTime.UtcNow + FailoverLimit;
        while (true)
        {
            var answer = await sender.SayAsync(sessionId, content, requestId);
            if (answer.Code() == 0)
            {
                return (answer.ULong("msgId"), content);
            }

            Assert.True(answer.Code() == 2 && DateTime.UtcNow < deadline, $"send of '{content}' answered {answer.Code()}");
            Interlocked.Increment(ref _retries);
            await Task.Delay(100); // the web client backs off too; no event says the grain is back
        }
    }

    /// <summary>The partner's pushes are exactly these, in this order, and nothing more.</summary>
    private static async Task ReceivesExactlyAsync(TestClient receiver, IReadOnlyList<(ulong MsgId, string Content)> expected)
    {
        foreach (var (msgId, content) in expected)
        {
            var push = await receiver.ExpectAsync("PUSH_DIALOGUE_REQ", timeout: FailoverLimit);
            Assert.Equal((msgId, content), (push.ULong("msgId"), push.String("content")));
        }

        await receiver.BarrierAsync();
        Assert.Empty(receiver.TakeAll("PUSH_DIALOGUE_REQ"));
    }

    private static async Task DisposeAllAsync(IEnumerable<TestClient?> clients)
    {
        foreach (var client in clients)
        {
            if (client is not null)
            {
                await client.DisposeAsync();
            }
        }
    }
}
