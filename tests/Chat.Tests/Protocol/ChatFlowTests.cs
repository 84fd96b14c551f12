using Chat.Tests.Infrastructure;

namespace Chat.Tests.Protocol;

/// <summary>The seed's commands end to end over real sockets: account, match, dialogue, receipts, leaving.</summary>
public sealed class ChatFlowTests
{
    [Fact]
    public async Task Two_strangers_match_and_chat_both_ways()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var _ = alice;
        await using var __ = bob;

        var sent = await alice.SayAsync(sessionId, "hello bob");
        Assert.Equal(0, sent.Code());
        var toBob = await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        Assert.Equal("hello bob", toBob.String("content"));
        Assert.Equal(alice.AccountId, toBob.ULong("senderId"));
        Assert.Equal(sessionId, toBob.ULong("sessionId"));
        Assert.Equal(sent.ULong("msgId"), toBob.ULong("msgId"));

        var reply = await bob.SayAsync(sessionId, "hi alice");
        Assert.Equal(0, reply.Code());
        var toAlice = await alice.ExpectAsync("PUSH_DIALOGUE_REQ");
        Assert.Equal("hi alice", toAlice.String("content"));
        Assert.True(reply.ULong("msgId") > sent.ULong("msgId"));
    }

    [Fact]
    public async Task Match_response_and_NewSession_signal_name_the_partner()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("  alice  ");
        await using var bob = await server.NewVisitorAsync("bob");

        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ", accountId = alice.AccountId }, "MATCH_RESP")).Code());
        var matched = await bob.RequestAsync(new { cmd = "MATCH_REQ", accountId = bob.AccountId }, "MATCH_RESP");
        Assert.Equal(alice.AccountId, matched.ULong("partnerId"));
        Assert.Equal("alice", matched.String("partnerName")); // trimmed

        var signal = await alice.ExpectAsync("PUSH_SIGNAL_REQ");
        Assert.Equal("NewSession", signal.String("signalType"));
        Assert.Equal(bob.AccountId, signal.DataAccountId);
        Assert.Equal("bob", signal.Root.GetProperty("data").GetProperty("nickName").GetString());
        Assert.Equal(alice.AccountId, signal.ULong("receiverId"));
    }

    [Fact]
    public async Task A_waiting_match_response_omits_partner_fields()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("alice");
        var waiting = await alice.RequestAsync(new { cmd = "MATCH_REQ", accountId = alice.AccountId }, "MATCH_RESP");
        Assert.Equal(4, waiting.Code());
        Assert.False(waiting.Has("partnerId"));
        Assert.False(waiting.Has("sessionId"));
    }

    [Fact]
    public async Task Repeated_match_request_keeps_the_place_and_never_pairs_with_self()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("alice");
        await using var bob = await server.NewVisitorAsync("bob");
        await using var carol = await server.NewVisitorAsync("carol");

        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        var stats = await alice.RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP");
        Assert.Equal(1, stats.Root.GetProperty("waiting").GetInt32());

        // Bob arrives next: he gets Alice, who waited first. Carol then waits.
        var bobMatch = await bob.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
        Assert.Equal(alice.AccountId, bobMatch.ULong("partnerId"));
        Assert.Equal(4, (await carol.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
    }

    [Fact]
    public async Task Two_accounts_already_chatting_are_not_matched_again()
    {
        await using var server = await ChatServer.StartAsync("Chat:Matching:Shards=1"); // "the longest waiting" of one pool
        var (alice, bob, _) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        Assert.Equal(4, (await bob.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());

        await using var carol = await server.NewVisitorAsync("carol");
        var carolMatch = await carol.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
        Assert.Equal(alice.AccountId, carolMatch.ULong("partnerId")); // the longest waiting
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(9)]
    public async Task Visitors_arriving_at_once_are_paired_with_no_one_double_booked(int count)
    {
        await using var server = await ChatServer.StartAsync();
        var clients = new List<TestClient>();
        for (var i = 0; i < count; i++)
        {
            clients.Add(await server.NewVisitorAsync($"v{i}"));
        }

        try
        {
            var responses = await Task.WhenAll(clients.Select(c => c.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")));
            // Paired at once (0) or waiting (4). Two who arrive together in different matchmaker shards
            // may both wait, and a sweep then pairs them: both are told by NewSession.
            Assert.Equal(count, responses.Count(r => r.Code() is 0 or 4));

            // Every waiting client that got paired receives exactly one NewSession; collect every session's two members.
            var members = new Dictionary<ulong, List<ulong>>();
            for (var i = 0; i < count; i++)
            {
                if (responses[i].Code() == 0)
                {
                    Add(members, responses[i].ULong("sessionId"), clients[i].AccountId);
                }
            }

            foreach (var (client, response) in clients.Zip(responses))
            {
                if (response.Code() != 4)
                {
                    continue;
                }

                // Waiting clients: all but one (for odd counts) will be told of a new session.
                try
                {
                    var signal = await client.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession", TimeSpan.FromSeconds(count % 2 == 1 ? 2 : 15));
                    Add(members, signal.ULong("sessionId"), client.AccountId);
                }
                catch (TimeoutException) when (count % 2 == 1)
                {
                }
            }

            Assert.Equal(count / 2, members.Count);
            Assert.All(members.Values, m => Assert.Equal(2, m.Distinct().Count()));
            var everyone = members.Values.SelectMany(m => m).ToList();
            Assert.Equal(everyone.Count, everyone.Distinct().Count()); // no one in two sessions
            Assert.Equal(count / 2 * 2, everyone.Count);
            foreach (var client in clients)
            {
                Assert.DoesNotContain(client.Snapshot(), f => f.String("signalType") == "NewSession");
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        static void Add(Dictionary<ulong, List<ulong>> members, ulong sessionId, ulong accountId)
        {
            if (!members.TryGetValue(sessionId, out var list))
            {
                members[sessionId] = list = [];
            }

            list.Add(accountId);
        }
    }

    [Fact]
    public async Task Read_receipts_reach_the_sender()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        var first = (await alice.SayAsync(sessionId, "one")).ULong("msgId");
        var second = (await alice.SayAsync(sessionId, "two")).ULong("msgId");
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == second);

        // The seed's client sends msgId; its Go struct named it MsgId: both spellings work.
        var ack = await bob.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = bob.AccountId, MsgId = second }, "VIEWED_ACK_RESP");
        Assert.Equal(0, ack.Code());
        var receipt = await alice.ExpectAsync("PUSH_VIEWED_ACK_REQ");
        Assert.Equal(second, receipt.ULong("msgId"));
        Assert.Equal(bob.AccountId, receipt.ULong("accountId"));
        Assert.Equal(sessionId, receipt.ULong("sessionId"));
        Assert.True(first < second);

        // A receipt for a message that does not exist yet is refused.
        var ahead = await bob.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = bob.AccountId, msgId = second + 1000 }, "VIEWED_ACK_RESP");
        Assert.Equal(1, ahead.Code());
    }

    [Fact]
    public async Task Message_ids_increase_and_arrive_in_order_when_both_send_at_once()
    {
        await using var server = await ChatServer.StartAsync("Chat:Broker:RateLimit:PerSecond=100000", "Chat:Broker:RateLimit:Burst=100000");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        const int perSide = 40;
        var sends = Task.WhenAll(
            Task.Run(async () => { for (var i = 0; i < perSide; i++) { Assert.Equal(0, (await alice.SayAsync(sessionId, $"a{i}")).Code()); } }),
            Task.Run(async () => { for (var i = 0; i < perSide; i++) { Assert.Equal(0, (await bob.SayAsync(sessionId, $"b{i}")).Code()); } }));
        await sends;

        foreach (var (receiver, prefix) in new[] { (bob, "a"), (alice, "b") })
        {
            var ids = new List<ulong>();
            for (var i = 0; i < perSide; i++)
            {
                var push = await receiver.ExpectAsync("PUSH_DIALOGUE_REQ");
                Assert.Equal($"{prefix}{i}", push.String("content"));
                ids.Add(push.ULong("msgId"));
            }

            Assert.Equal(ids.Order(), ids);
            Assert.Equal(ids.Count, ids.Distinct().Count());
        }
    }

    [Fact]
    public async Task Closing_the_socket_ends_the_sessions_and_tells_the_partner()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var b = bob;

        await alice.CloseAsync();
        await alice.DisposeAsync();
        var exit = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(alice.AccountId, exit.DataAccountId);
        Assert.Equal(sessionId, exit.ULong("sessionId"));

        // Sending into the ended session: a non-zero code and a PartnerExit, as the seed does.
        var refused = await bob.SayAsync(sessionId, "are you there?");
        Assert.Equal(4, refused.Code());
        var again = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(alice.AccountId, again.DataAccountId);
    }

    [Fact]
    public async Task A_waiting_visitor_who_leaves_is_no_longer_matched()
    {
        await using var server = await ChatServer.StartAsync();
        var alice = await server.NewVisitorAsync("alice");
        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        await alice.CloseAsync();
        await alice.Closed.WaitAsync(TestClient.Timeout);
        await alice.DisposeAsync();

        await using var bob = await server.NewVisitorAsync("bob");
        await WaitUntilAsync(async () => (await bob.RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP")).Root.GetProperty("waiting").GetInt32() == 0);
        Assert.Equal(4, (await bob.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
    }

    [Fact]
    public async Task Ping_gets_pong_and_the_server_pings()
    {
        await using var server = await ChatServer.StartAsync("Chat:Broker:PingInterval=00:00:00.100");
        await using var alice = await server.NewVisitorAsync("alice");
        var pong = await alice.RequestAsync(new { cmd = "PING_REQ", accountId = alice.AccountId }, "PING_RESP");
        Assert.Equal(alice.AccountId, pong.ULong("accountId"));

        alice.AnswerPings = false;
        var ping = await alice.ExpectAsync("PING_REQ");
        Assert.Equal(alice.AccountId, ping.ULong("accountId"));
    }

    [Fact]
    public async Task A_silent_socket_is_dropped_and_its_partner_told()
    {
        // Real timers, with room for a cold process on a busy machine (the exact edge is in ClockTests).
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:PingInterval=00:00:00.200",
            "Chat:Broker:SilenceTimeout=00:00:03",
            "Chat:Logic:GracePeriod=00:00:00");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        alice.AnswerPings = false; // Alice's client freezes; Bob's keeps answering.
        var exit = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(alice.AccountId, exit.DataAccountId);
        Assert.Equal(sessionId, exit.ULong("sessionId"));
        Assert.Null(await alice.Closed.WaitAsync(TestClient.Timeout)); // dropped, no close frame
    }

    [Fact]
    public async Task Reconnect_with_the_token_rebinds_the_account_and_closes_the_old_socket()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        await using var aliceAgain = await server.ConnectAsync();
        aliceAgain.Adopt(alice.AccountId, alice.Token);
        var resp = await aliceAgain.RequestAsync(new { cmd = "RECONNECT_REQ", accountId = alice.AccountId, token = alice.Token }, "RECONNECT_RESP");
        Assert.Equal(0, resp.Code());
        Assert.Equal(4001, (int)(await alice.Closed.WaitAsync(TestClient.Timeout))!);

        // The session lives on: the new socket sends and receives in it.
        Assert.Equal(sessionId, resp.Root.GetProperty("sessions")[0].GetProperty("sessionId").GetUInt64());
        Assert.Equal(0, (await aliceAgain.SayAsync(sessionId, "new socket")).Code());
        Assert.Equal("new socket", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        await bob.SayAsync(sessionId, "got it");
        Assert.Equal("got it", (await aliceAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.DoesNotContain(bob.Snapshot(), f => f.String("signalType") == "PartnerExit");
    }

    [Fact]
    public async Task Reconnect_with_a_wrong_token_or_unknown_account_gets_code_4()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("alice");
        await using var mallory = await server.ConnectAsync();

        var wrong = await mallory.RequestAsync(new { cmd = "RECONNECT_REQ", accountId = alice.AccountId, token = alice.Token[..^2] + "xx" }, "RECONNECT_RESP");
        Assert.Equal(4, wrong.Code());
        var unknown = await mallory.RequestAsync(new { cmd = "RECONNECT_REQ", accountId = 999_999, token = alice.Token }, "RECONNECT_RESP");
        Assert.Equal(4, unknown.Code());

        // Alice's socket is untouched and Mallory still has no account.
        Assert.Equal(alice.AccountId, (await alice.RequestAsync(new { cmd = "PING_REQ" }, "PING_RESP")).ULong("accountId"));
        Assert.Equal(1, (await mallory.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
    }

    [Fact]
    public async Task Tokens_are_long_random_and_url_safe()
    {
        await using var server = await ChatServer.StartAsync();
        await using var a = await server.NewVisitorAsync("a");
        await using var b = await server.NewVisitorAsync("b");
        Assert.NotEqual(a.Token, b.Token);
        foreach (var token in new[] { a.Token, b.Token })
        {
            Assert.Equal(43, token.Length); // 32 bytes, base64url without padding
            Assert.Matches("^[A-Za-z0-9_-]+$", token);
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        while (!await condition())
        {
            // Polling the server's own state: each check is a round trip, not a guess at timing.
            await Task.Delay(20, timeout.Token);
        }
    }
}
