using Chat.Broker.Connections;
using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Security;

/// <summary>
/// What one account may make the server do is bounded: a reconnect replays one page per session
/// until the client has it, reconnects are paced, a client that says it confirms but does not is
/// treated as one that does not, and an account is in a few sessions at most.
/// </summary>
public sealed class BoundedWorkTests
{
    private static readonly string[] NoRateLimit = ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000"];

    [Fact]
    public async Task RECONNECT_REQ_on_the_socket_that_has_the_account_already_gets_ParamErr_and_the_socket_carries_on()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        await using var b = bob;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await alice.SayAsync(sessionId, $"m{i}")).Code());
            await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        }

        // Not 4: on 4 a client forgets its account. And no replay of what the socket was given.
        var again = await bob.ReconnectAsync(confirmReceipt: true);
        Assert.Equal(1, again.Code());
        Assert.NotNull(again.String("msg"));

        Assert.Equal(0, (await alice.SayAsync(sessionId, "still here")).Code());
        Assert.Equal("still here", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.Equal(bob.AccountId, (await bob.RequestAsync(new { cmd = "PING_REQ" }, "PING_RESP")).ULong("accountId"));
    }

    [Fact]
    public async Task Reconnects_past_the_accounts_allowance_get_RateLimited_with_retryAfter_and_wrong_tokens_use_none_of_it()
    {
        await using var server = await ChatServer.StartAsync("Chat:Logic:ReconnectBurst=2", "Chat:Logic:ReconnectInterval=01:00:00");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        // Whoever knows the id (a partner does) cannot use up the account's reconnects.
        for (var i = 0; i < 5; i++)
        {
            await using var stranger = await server.ConnectAsync();
            stranger.Adopt(bob.AccountId, "not-the-token");
            Assert.Equal(4, (await stranger.ReconnectAsync()).Code());
        }

        var (first, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b1 = first;
        Assert.Equal(0, resumed.Code());
        var (second, resumedAgain) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b2 = second;
        Assert.Equal(0, resumedAgain.Code());

        var (third, refused) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b3 = third;
        Assert.Equal(5, refused.Code());
        var retryAfter = refused.Root.GetProperty("retryAfter").GetInt32();
        Assert.InRange(retryAfter, 3500, 3600);

        // The refused reconnect took nothing from the socket the account is on.
        Assert.Equal(0, (await alice.SayAsync(sessionId, "who is there?")).Code());
        Assert.Equal("who is there?", (await second.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }

    [Fact]
    public async Task Requests_naming_sessions_that_are_not_the_accounts_are_refused_by_the_broker_after_a_few_and_then_cost_the_store_nothing()
    {
        var store = new ReadCountingStore();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<IChatStore>(store), NoRateLimit);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        var (carol, dave, theirs) = await server.NewPairAsync("carol", "dave");
        await using var c = carol;
        await using var d = dave;

        // Carol names Alice and Bob's session and ids no session has had yet (they are sequential, so
        // easy to guess), in every request that names a session. Logic refuses the first few.
        var guesses = new[] { sessionId, theirs + 1000, theirs + 2000, theirs + 3000 };
        for (var i = 0; i < ClientConnection.WrongSessionsLimit; i++)
        {
            Assert.Equal(1, (await carol.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId = guesses[i % guesses.Length], msgId = 1 }, "VIEWED_ACK_RESP")).Code());
        }

        // Then the broker refuses them itself: not one more session is loaded.
        var loadsBefore = store.SessionReads;
        foreach (var guessed in guesses)
        {
            var said = await carol.RequestAsync(new { cmd = "DIALOGUE_REQ", requestId = $"r{guessed}", senderId = carol.AccountId, sessionId = guessed, content = "hi" }, "DIALOGUE_RESP");
            AssertNotYours(said);
            AssertNotYours(await carol.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId = guessed, msgId = 1 }, "VIEWED_ACK_RESP"));
            AssertNotYours(await carol.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId = guessed }, "END_SESSION_RESP"));
            AssertNotYours(await carol.RequestAsync(new { cmd = "REPORT_REQ", sessionId = guessed, reason = "spam" }, "REPORT_RESP"));
            await carol.SendAsync(new { cmd = "TYPING_REQ", sessionId = guessed });
            await carol.SendAsync(new { cmd = "PUSH_DIALOGUE_RESP", code = 0, sessionId = guessed, msgId = 1 });
        }

        await carol.BarrierAsync();
        Assert.Equal(loadsBefore, store.SessionReads);
        Assert.Empty(carol.TakeAll("ERROR_RESP")); // typing and delivery marks are never answered

        // Alice and Bob heard nothing of it and carry on; so do Carol and Dave.
        Assert.Equal(0, (await alice.SayAsync(sessionId, "still ours")).Code());
        Assert.Equal("still ours", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.Empty(bob.TakeAll("PUSH_SIGNAL_REQ"));
        Assert.Equal(0, (await carol.SayAsync(theirs, "and ours")).Code());
        Assert.Equal("and ours", (await dave.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        // A socket is told of its sessions by RECONNECT_RESP too: Bob's next socket may name his.
        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b2 = bobAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(0, (await bobAgain.SayAsync(sessionId, "from my new socket")).Code());
        Assert.Equal("from my new socket", (await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        static void AssertNotYours(Frame refused)
        {
            Assert.Equal(1, refused.Code());
            Assert.Equal("not your session", refused.String("msg"));
        }
    }

    [Fact]
    public async Task A_reconnect_replays_one_page_per_session_and_the_next_once_the_client_confirms_it_and_drops_nothing()
    {
        // Only the page rule in play: the client is never taken for one that does not confirm.
        await using var server = await ChatServer.StartAsync(
            [.. NoRateLimit, "Chat:Logic:ReplayPage=20", "Chat:Broker:MaxUnconfirmedPushes=100000", "Chat:Broker:ConfirmTimeout=01:00:00"]);
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");

        var sent = new List<ulong>();
        for (var i = 0; i < 70; i++)
        {
            sent.Add((await alice.SayAsync(sessionId, $"m{i}")).ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        var received = new List<ulong>();
        while (received.Count < sent.Count)
        {
            // A page; then, however long the client waits, nothing more until it confirms the page.
            var page = Math.Min(20, sent.Count - received.Count);
            for (var i = 0; i < page; i++)
            {
                received.Add((await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));
            }

            await bobAgain.BarrierAsync();
            Assert.Empty(bobAgain.TakeAll("PUSH_DIALOGUE_REQ"));
            await bobAgain.SendAsync(new { cmd = "PUSH_DIALOGUE_RESP", code = 0, sessionId, msgId = received[^1] });
        }

        Assert.Equal(sent, received);
        Assert.Equal(0, (await alice.SayAsync(sessionId, "live")).Code());
        Assert.Equal("live", (await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }

    [Fact]
    public async Task A_client_that_leaves_too_many_pushes_unconfirmed_is_taken_for_one_that_does_not_confirm()
    {
        await using var server = await ChatServer.StartAsync([.. NoRateLimit, "Chat:Broker:MaxUnconfirmedPushes=5"]);
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(0, (await alice.SayAsync(sessionId, $"m{i}")).Code());
            await bob.ExpectAsync("PUSH_DIALOGUE_REQ"); // and never confirmed
        }

        await AssertNothingIsReplayedAsync(server, alice, bob, sessionId);
    }

    [Fact]
    public async Task A_client_that_leaves_a_push_unconfirmed_past_the_confirm_timeout_is_taken_for_one_that_does_not_confirm()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ChatServer.StartWithClockAsync(clock, "Chat:Broker:ConfirmTimeout=00:00:05");
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        alice.AnswerPings = false;
        bob.AnswerPings = false;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "never confirmed")).Code());
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ");

        // Three heartbeat sweeps over Bob's socket: the last finds the push 9 s unconfirmed.
        for (var sweep = 0; sweep < 3; sweep++)
        {
            clock.Advance(TimeSpan.FromSeconds(3));
            await bob.ExpectAsync("PING_REQ");
            await alice.ExpectAsync("PING_REQ");
        }

        await AssertNothingIsReplayedAsync(server, alice, bob, sessionId);
    }

    [Fact]
    public async Task An_account_is_in_three_sessions_at_most_and_a_MATCH_REQ_past_them_gets_ParamErr_with_a_msg()
    {
        await using var server = await ChatServer.StartAsync();
        await using var bot = await server.NewVisitorAsync("bot");
        var newcomers = new List<TestClient>();
        try
        {
            // The bot goes back into the pool after every match, as one that wants every newcomer would.
            var sessions = new List<ulong>();
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(4, (await bot.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
                var newcomer = await server.NewVisitorAsync($"newcomer{i}");
                newcomers.Add(newcomer);
                var matched = await newcomer.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
                Assert.Equal(0, matched.Code());
                Assert.Equal(bot.AccountId, matched.ULong("partnerId"));
                sessions.Add(matched.ULong("sessionId"));
            }

            var refused = await bot.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
            Assert.Equal(1, refused.Code());
            Assert.Contains("3", refused.String("msg"), StringComparison.Ordinal);
            Assert.False(refused.Has("sessionId"));

            // The next newcomer is not the bot's: it waits for someone else.
            var fourth = await server.NewVisitorAsync("newcomer3");
            newcomers.Add(fourth);
            Assert.Equal(4, (await fourth.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());

            // One chat ends: the bot may meet someone new again.
            Assert.Equal(0, (await bot.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId = sessions[0] }, "END_SESSION_RESP")).Code());
            var again = await bot.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
            Assert.Equal(0, again.Code());
            Assert.Equal(fourth.AccountId, again.ULong("partnerId"));
        }
        finally
        {
            foreach (var newcomer in newcomers)
            {
                await newcomer.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Bob's socket drops and he comes back: what was written to him counts as received, so the first
    /// message he gets on the new socket is the one Alice sends after (a replay would come first).
    /// </summary>
    private static async Task AssertNothingIsReplayedAsync(ChatServer server, TestClient alice, TestClient bob, ulong sessionId)
    {
        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(0, (await alice.SayAsync(sessionId, "after")).Code());
        Assert.Equal("after", (await bobAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }
}
