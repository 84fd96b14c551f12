using System.Net.WebSockets;
using Chat.Broker;
using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Data.Sqlite;

namespace Chat.Tests.Delivery;

/// <summary>A dropped connection loses nothing: grace period, resume, replay, idempotent sends, crash safety.</summary>
public sealed class LosslessTests
{
    private static readonly string[] NoRateLimit = ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000"];

    [Fact]
    public async Task A_receiver_who_drops_and_reconnects_within_grace_gets_all_50_messages_once_in_order()
    {
        await using var server = await ChatServer.StartAsync(NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;

        bob.Abort(); // no close frame: a network failure
        await bob.DisposeAsync();
        var away = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        Assert.Equal(bob.AccountId, away.DataAccountId);

        var sent = new List<ulong>();
        for (var i = 0; i < 50; i++)
        {
            var ack = await alice.SayAsync(sessionId, $"m{i}");
            Assert.Equal(0, ack.Code());
            sent.Add(ack.ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(sessionId, resumed.Root.GetProperty("sessions")[0].GetProperty("sessionId").GetUInt64());

        await AssertReceivesExactlyAsync(bobAgain, sent, i => $"m{i}");
        var back = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerBack");
        Assert.Equal(bob.AccountId, back.DataAccountId);

        // Live delivery goes on after the replay.
        var live = (await alice.SayAsync(sessionId, "live")).ULong("msgId");
        Assert.Equal(live, (await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));
    }

    [Fact]
    public async Task A_replay_longer_than_the_send_queue_waits_for_room_instead_of_dropping_the_client()
    {
        string[] settings = [.. NoRateLimit, "Chat:Broker:SendQueueLength=8"];
        await using var server = await ChatServer.StartAsync(settings);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;

        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var sent = new List<ulong>();
        for (var i = 0; i < 300; i++)
        {
            sent.Add((await alice.SayAsync(sessionId, $"m{i}")).ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        await AssertReceivesExactlyAsync(bobAgain, sent, i => $"m{i}");
    }

    [Fact]
    public async Task A_confirming_client_gets_everything_it_did_not_confirm_even_what_went_to_the_dying_socket()
    {
        await using var server = await ChatServer.StartAsync(NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;

        var confirmed = new List<ulong>();
        for (var i = 0; i < 10; i++)
        {
            confirmed.Add((await alice.SayAsync(sessionId, $"c{i}")).ULong("msgId"));
            var push = await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
            await bob.SendAsync(new { cmd = "PUSH_DIALOGUE_RESP", code = 0, sessionId, msgId = push.ULong("msgId") });
        }

        await bob.BarrierAsync(); // the confirmations are recorded

        // Bob vanishes; Alice keeps typing before the server has even noticed.
        bob.Abort();
        var sent = new List<ulong>();
        for (var i = 0; i < 30; i++)
        {
            sent.Add((await alice.SayAsync(sessionId, $"m{i}")).ULong("msgId"));
        }

        await bob.DisposeAsync();
        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        await AssertReceivesExactlyAsync(bobAgain, sent, i => $"m{i}");
    }

    [Fact]
    public async Task When_the_grace_period_runs_out_the_partner_gets_PartnerExit_and_the_session_stays_ended()
    {
        // One matchmaker shard: "the longer waiting of the two" is first come, first served in one pool (across shards a
        // visitor without interests is paired in its own shard first).
        await using var server = await ChatServer.StartAsync("Chat:Logic:GracePeriod=00:00:00.300", "Chat:Logic:SweepInterval=00:00:00.050", "Chat:Matching:Shards=1");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;

        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var exit = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(bob.AccountId, exit.DataAccountId);
        Assert.Equal(sessionId, exit.ULong("sessionId"));
        Assert.Equal(4, (await alice.SayAsync(sessionId, "gone?")).Code());

        // The account itself comes back and can match again (with someone new: not Alice within
        // Chat:Matching:RematchAfter); the old session does not.
        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(0, resumed.Root.GetProperty("sessions").GetArrayLength());
        Assert.Equal(4, (await bobAgain.SayAsync(sessionId, "hello?")).Code());
        Assert.Equal(4, (await bobAgain.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        await using var carol = await server.NewVisitorAsync("carol");
        var match = await carol.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
        Assert.Equal(0, match.Code());
        Assert.Equal(bob.AccountId, match.ULong("partnerId")); // the longer waiting of the two
    }

    [Fact]
    public async Task A_retried_request_id_stores_one_message_also_across_a_reconnect()
    {
        await using var server = await ChatServer.StartAsync(NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var b = bob;

        var first = await alice.SayAsync(sessionId, "only once", requestId: "req-1");
        var retry = await alice.SayAsync(sessionId, "only once", requestId: "req-1");
        Assert.Equal(first.ULong("msgId"), retry.ULong("msgId"));

        alice.Abort();
        await alice.DisposeAsync();
        var (aliceAgain, _) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceAgain;
        var afterReconnect = await aliceAgain.SayAsync(sessionId, "only once", requestId: "req-1");
        Assert.Equal(first.ULong("msgId"), afterReconnect.ULong("msgId"));

        var marker = await aliceAgain.SayAsync(sessionId, "marker");
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == marker.ULong("msgId"));
        Assert.Single(bob.Snapshot(), f => f.Cmd == "PUSH_DIALOGUE_REQ" && f.String("content") == "only once"); // the marker was taken above
    }

    [Fact]
    public async Task A_retry_while_the_first_attempt_is_still_being_stored_gets_the_same_message()
    {
        var store = new GatedStore();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<IChatStore>(store), NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var b = bob;

        // The store stalls on Alice's message; her socket drops before the answer, and her client retries on a new one.
        store.Hold();
        await alice.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = "slow", senderId = alice.AccountId, sessionId, content = "once" });
        await store.Held.WaitAsync(TestClient.Timeout);
        alice.Abort();
        await alice.DisposeAsync();
        var (aliceAgain, resumed) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceAgain;
        Assert.Equal(0, resumed.Code());
        await aliceAgain.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = "slow", senderId = alice.AccountId, sessionId, content = "once" });
        await aliceAgain.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = "next", senderId = alice.AccountId, sessionId, content = "next" });

        store.Release();
        var first = (await aliceAgain.ExpectAsync("DIALOGUE_RESP", f => f.String("requestId") == "slow")).ULong("msgId");
        Assert.True((await aliceAgain.ExpectAsync("DIALOGUE_RESP", f => f.String("requestId") == "next")).ULong("msgId") > first);
        Assert.Equal(first, (await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "once")).ULong("msgId"));

        // A second copy would have been pushed before "next".
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "next");
        Assert.DoesNotContain(bob.Snapshot(), f => f.Cmd == "PUSH_DIALOGUE_REQ" && f.String("content") == "once");
    }

    [Fact]
    public async Task A_retry_after_a_commit_that_landed_though_its_answer_was_lost_gets_the_first_msgId_and_the_partner_gets_it_once()
    {
        // The connection to the database died during COMMIT, after the commit: logic cannot know the
        // message landed and answers InternalErr; the client retries, and the store knows better.
        var store = new LostAnswerStore();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<IChatStore>(store), NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        var before = (await alice.SayAsync(sessionId, "before")).ULong("msgId");
        Assert.Equal(before, (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));

        store.LoseNextAnswer();
        Assert.Equal(2, (await alice.SayAsync(sessionId, "landed", requestId: "lost-answer")).Code());

        var retried = await alice.SayAsync(sessionId, "landed", requestId: "lost-answer");
        Assert.Equal(0, retried.Code());
        var stored = Assert.Single(await store.ReadMessagesForAsync(sessionId, bob.AccountId, before, 100, CancellationToken.None));
        Assert.Equal(stored.Id, retried.ULong("msgId"));
        Assert.Equal(stored.Id, (await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "landed")).ULong("msgId"));

        // Asked again, the answer comes from the session's memory; "after" follows, and nothing twice.
        Assert.Equal(stored.Id, (await alice.SayAsync(sessionId, "landed", requestId: "lost-answer")).ULong("msgId"));
        var after = (await alice.SayAsync(sessionId, "after")).ULong("msgId");
        Assert.True(after > stored.Id);
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == after);
        Assert.Empty(bob.TakeAll("PUSH_DIALOGUE_REQ"));
        Assert.Equal(2, (await store.ReadMessagesForAsync(sessionId, bob.AccountId, before, 100, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Messages_missed_while_away_survive_a_server_restart_and_are_replayed()
    {
        await using var server = await ChildChatServer.StartAsync(NoRateLimit);
        var (alice, bob, sessionId) = await Pairing.PairAsync(server.NewVisitorAsync("alice"), server.NewVisitorAsync("bob"));
        var sent = new List<ulong>();
        bob.Abort();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        for (var i = 0; i < 50; i++)
        {
            sent.Add((await alice.SayAsync(sessionId, $"m{i}", requestId: $"r{i}")).ULong("msgId"));
        }

        await server.StopAsync();
        Assert.Equal(BrokerExtensions.ServiceRestart, await alice.Closed.WaitAsync(TestClient.Timeout));

        await server.RestartAsync();
        var (aliceAgain, aliceResumed) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceAgain;
        Assert.Equal(0, aliceResumed.Code());

        // A retry of a send from before the restart is recognised by its requestId.
        Assert.Equal(sent[^1], (await aliceAgain.SayAsync(sessionId, "m49", requestId: "r49")).ULong("msgId"));

        var (bobAgain, bobResumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobAgain;
        Assert.Equal(0, bobResumed.Code());
        await AssertReceivesExactlyAsync(bobAgain, sent, i => $"m{i}");

        var live = (await aliceAgain.SayAsync(sessionId, "after restart")).ULong("msgId");
        Assert.Equal(live, (await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));

        await alice.DisposeAsync();
        await bob.DisposeAsync();
    }

    [Fact]
    public async Task Every_acknowledged_message_survives_kill_9_and_reaches_its_receiver()
    {
        await using var server = await ChildChatServer.StartAsync(NoRateLimit);
        var (alice, bob, sessionId) = await Pairing.PairAsync(server.NewVisitorAsync("alice"), server.NewVisitorAsync("bob", confirmReceipt: true));
        var acked = new List<ulong>();

        // Alice pipelines a burst; the server is killed while acks are still streaming back.
        const int burst = 400;
        for (var i = 0; i < burst; i++)
        {
            await alice.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = $"k{i}", senderId = alice.AccountId, sessionId, content = $"k{i}" });
        }

        for (var i = 0; i < 40; i++)
        {
            await alice.ExpectAsync("DIALOGUE_RESP", f => f.Code() == 0, TimeSpan.FromSeconds(30));
        }

        await server.KillAsync();
        await alice.Closed.WaitAsync(TestClient.Timeout);
        acked.AddRange(alice.Snapshot().Where(f => f.Cmd == "DIALOGUE_RESP" && f.Code() == 0).Select(f => f.ULong("msgId")));
        Assert.True(acked.Count < burst, "the kill came too late to interrupt anything");

        // The 40 taken above are acked too: recover them from their requestIds on the new server.
        await server.RestartAsync();
        var (aliceAgain, _) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceAgain;
        for (var i = 0; i < 40; i++)
        {
            var retried = await aliceAgain.SayAsync(sessionId, $"k{i}", requestId: $"k{i}");
            acked.Add(retried.ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());

        // The replay comes a page at a time, each once Bob has confirmed the last.
        var received = bob.Snapshot().Where(f => f.Cmd == "PUSH_DIALOGUE_REQ").Select(f => f.ULong("msgId")).ToHashSet();
        var replayed = new List<ulong>();
        while (!acked.All(received.Contains))
        {
            var push = await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ");
            replayed.Add(push.ULong("msgId"));
            received.Add(push.ULong("msgId"));
            await bobAgain.SendAsync(new { cmd = "PUSH_DIALOGUE_RESP", code = 0, sessionId, msgId = push.ULong("msgId") });
        }

        Assert.Equal(replayed.Order(), replayed);
        Assert.Equal(replayed.Count, replayed.Distinct().Count());
        Assert.All(acked.Distinct(), id => Assert.Contains(id, StoredMessageIds(server.DataDirectory)));

        await alice.DisposeAsync();
        await bob.DisposeAsync();
    }

    private static HashSet<ulong> StoredMessageIds(string dataDirectory)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "chat.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM message";
        using var reader = command.ExecuteReader();
        var ids = new HashSet<ulong>();
        while (reader.Read())
        {
            ids.Add((ulong)reader.GetInt64(0));
        }

        return ids;
    }

    private static async Task AssertReceivesExactlyAsync(TestClient receiver, IReadOnlyList<ulong> expected, Func<int, string> content)
    {
        for (var i = 0; i < expected.Count; i++)
        {
            var push = await receiver.ExpectAsync("PUSH_DIALOGUE_REQ");
            Assert.Equal(expected[i], push.ULong("msgId"));
            Assert.Equal(content(i), push.String("content"));
        }

        await receiver.BarrierAsync();
        Assert.Empty(receiver.TakeAll("PUSH_DIALOGUE_REQ")); // each once
    }
}
