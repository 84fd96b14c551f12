using System.Net.WebSockets;
using Chat.Logic.Storage;
using Chat.Testing;
using Chat.Tests.Diagnostics;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Chat.Tests.Infrastructure.Exposition;

namespace Chat.Tests.Abuse;

/// <summary>
/// Each per-address and per-account limit refusing at its threshold, over real sockets, with the
/// visitors' addresses given by X-Forwarded-For to a server that trusts this machine as its proxy.
/// The refusal counts are read from /metrics, whose meters are process-wide: this class runs alone.
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class AddressLimitTests
{
    [Fact]
    public async Task A_socket_beyond_the_limit_of_its_address_is_closed_with_1008_and_the_reason()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:SocketsPerAddress=3");
        var open = new List<TestClient>();
        for (var i = 0; i < 3; i++)
        {
            open.Add(await server.ConnectAsync("203.0.113.5"));
        }

        await using var fourth = await server.ConnectAsync("203.0.113.5");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await fourth.Closed.WaitAsync(TestClient.Timeout));
        Assert.Contains("too many connections from your address", fourth.CloseReason, StringComparison.Ordinal);

        // The three stay usable, and another address is not affected.
        foreach (var client in open)
        {
            await client.BarrierAsync();
        }

        await using var neighbour = await server.ConnectAsync("203.0.113.6");
        await neighbour.BarrierAsync();

        // A socket that closes makes room for another.
        await open[0].CloseAsync();
        await open[0].DisposeAsync();
        await using var again = await WhenAdmittedAsync(server, "203.0.113.5");
        await again.BarrierAsync();

        var metrics = await server.MetricsAsync();
        Assert.True(Value(metrics, "chat_abuse_refusals_total", "kind=\"sockets\"") >= 1);
        Assert.Equal(1, Value(metrics, "chat_broker_closed_by_server_total", "status=\"1008\""), 0);
        foreach (var client in open.Skip(1))
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task New_accounts_of_an_address_come_from_a_token_bucket_and_refusals_say_when_to_retry()
    {
        // 6 a minute (one every 10 s), 3 at once.
        await using var server = await LimitedServer.StartAsync("Chat:Limits:AccountsPerMinute=6", "Chat:Limits:AccountsBurst=3");
        for (var i = 0; i < 3; i++)
        {
            await using var visitor = await server.VisitorAsync("198.51.100.20", $"v{i}");
        }

        await using var fourth = await server.ConnectAsync("198.51.100.20");
        var refused = await fourth.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName = "v3" }, "CRT_ACCOUNT_RESP");
        Assert.Equal(5, refused.Code());
        Assert.Contains("too many new accounts from your address", refused.String("msg"), StringComparison.Ordinal);
        Assert.Equal(10, refused.Root.GetProperty("retryAfter").GetInt32());
        Assert.False(refused.Has("accountId"));

        // Another address has its own bucket.
        await using var elsewhere = await server.VisitorAsync("198.51.100.21");

        // Not before the time it was told, then one more.
        server.Clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(5, (await fourth.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName = "v3" }, "CRT_ACCOUNT_RESP")).Code());
        server.Clock.Advance(TimeSpan.FromSeconds(1));
        await fourth.CreateAccountAsync("v3");

        var metrics = await server.MetricsAsync();
        Assert.Equal(2, Value(metrics, "chat_abuse_refusals_total", "kind=\"accounts\""));
    }

    [Fact]
    public async Task Reconnects_that_name_no_account_are_limited_per_address_and_once_refused_cost_no_store_read()
    {
        // 6 failures a minute (one every 10 s), 3 at once; a reconnect with the right token is never counted.
        var store = new ReadCountingStore();
        await using var server = await LimitedServer.StartWithServicesAsync(
            services => services.AddSingleton<IChatStore>(store),
            "Chat:Limits:FailedReconnectsPerMinute=6", "Chat:Limits:FailedReconnectsBurst=3");
        await using var visitor = await server.VisitorAsync("198.51.100.40");
        for (var i = 0; i < 4; i++)
        {
            var (again, resumed) = await visitor.ReconnectOnNewSocketAsync(server.Server.WebSocketUri);
            await using var _ = again;
            Assert.Equal(0, resumed.Code());
        }

        // A stranger names accounts nobody created: each is looked up in the store, until the address's
        // allowance is spent; then it is refused before the lookup, on any socket of that address.
        const string Stranger = "203.0.113.60";
        await using var guesser = await server.ConnectAsync(Stranger);
        var readsBefore = store.AccountReads;
        for (var i = 1; i <= 3; i++)
        {
            guesser.Adopt(visitor.AccountId + (ulong)(1000 * i), "guessed-token");
            Assert.Equal(4, (await guesser.ReconnectAsync()).Code());
        }

        Assert.Equal(readsBefore + 3, store.AccountReads);
        guesser.Adopt(visitor.AccountId + 4000, "guessed-token");
        var refused = await guesser.ReconnectAsync();
        Assert.Equal(5, refused.Code());
        Assert.Equal(10, refused.Root.GetProperty("retryAfter").GetInt32());
        await using var otherSocket = await server.ConnectAsync(Stranger);
        otherSocket.Adopt(visitor.AccountId + 5000, "guessed-token");
        Assert.Equal(5, (await otherSocket.ReconnectAsync()).Code());
        Assert.Equal(readsBefore + 3, store.AccountReads);

        // Other addresses are not affected, nor is the visitor, whose reconnects did not count.
        await using var neighbour = await server.ConnectAsync("203.0.113.61");
        neighbour.Adopt(visitor.AccountId + 6000, "guessed-token");
        Assert.Equal(4, (await neighbour.ReconnectAsync()).Code());
        var (back, backAgain) = await visitor.ReconnectOnNewSocketAsync(server.Server.WebSocketUri);
        await using var b = back;
        Assert.Equal(0, backAgain.Code());

        // When the refusal said, one more try.
        server.Clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(4, (await guesser.ReconnectAsync()).Code());
        Assert.Equal(5, (await guesser.ReconnectAsync()).Code());

        var metrics = await server.MetricsAsync();
        Assert.Equal(3, Value(metrics, "chat_abuse_refusals_total", "kind=\"reconnects\""));
    }

    [Fact]
    public async Task Visitors_waiting_from_one_address_are_limited_and_a_repeated_match_request_keeps_its_place()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:WaitingPerAddress=2", "Chat:Matching:Shards=1"); // "who waited longest" of one pool
        const string Home = "192.0.2.7";

        // Three visitors of one address who have each talked to the other two: none of them can be
        // matched with another, so each MATCH_REQ of theirs waits.
        var (first, second, third) = await TalkedToEachOtherAsync(server, Home);
        await using var a = first;
        await using var b = second;
        await using var c = third;
        Assert.Equal(4, (await Match(a)).Code());
        Assert.Equal(4, (await Match(b)).Code());
        Assert.Equal(4, (await Match(a)).Code()); // the seed's client repeats MATCH_REQ while it waits: not a third

        var refused = await Match(c);
        Assert.Equal(5, refused.Code());
        Assert.Contains("too many visitors from your address are waiting", refused.String("msg"), StringComparison.Ordinal);
        Assert.True(refused.Root.GetProperty("retryAfter").GetInt32() > 0);

        // Someone from elsewhere is matched with the one who waited longest; then there is room.
        await using var stranger = await server.VisitorAsync("203.0.113.99", "stranger");
        var matched = await Match(stranger);
        Assert.Equal(0, matched.Code());
        Assert.Equal(a.AccountId, matched.ULong("partnerId"));
        Assert.Equal(4, (await Match(c)).Code());

        Assert.Equal(1, Value(await server.MetricsAsync(), "chat_abuse_refusals_total", "kind=\"waiting\""));
    }

    [Fact]
    public async Task Matches_per_account_count_matches_made_not_match_requests()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:MatchesPerMinute=2");
        await using var alice = await server.VisitorAsync("203.0.113.1", "alice");

        // Waiting costs nothing, however often she asks.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(4, (await Match(alice)).Code());
        }

        for (var partner = 0; partner < 2; partner++)
        {
            if (partner > 0)
            {
                Assert.Equal(4, (await Match(alice)).Code());
            }

            await using var other = await server.VisitorAsync($"203.0.113.{10 + partner}", $"p{partner}");
            Assert.Equal(0, (await Match(other)).Code());
            await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        }

        // Two matches in this minute: a third is refused, for as long as it takes one to age out.
        var refused = await Match(alice);
        Assert.Equal(5, refused.Code());
        Assert.Contains("too many new partners", refused.String("msg"), StringComparison.Ordinal);
        Assert.Equal(30, refused.Root.GetProperty("retryAfter").GetInt32());

        server.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(4, (await Match(alice)).Code());
        Assert.Equal(1, Value(await server.MetricsAsync(), "chat_abuse_refusals_total", "kind=\"matches\""));
    }

    [Fact]
    public async Task An_ipv6_address_counts_with_its_whole_64_and_ipv4_mapped_addresses_as_ipv4()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:SocketsPerAddress=1");
        await using var home = await server.ConnectAsync("2001:db8:1:2::a");
        await home.BarrierAsync();

        await using var sameNetwork = await server.ConnectAsync("2001:db8:1:2:ffff:ffff:ffff:1");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await sameNetwork.Closed.WaitAsync(TestClient.Timeout));

        await using var nextNetwork = await server.ConnectAsync("2001:db8:1:3::a");
        await nextNetwork.BarrierAsync();

        await using var v4 = await server.ConnectAsync("192.0.2.1");
        await v4.BarrierAsync();
        await using var mapped = await server.ConnectAsync("::ffff:192.0.2.1");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await mapped.Closed.WaitAsync(TestClient.Timeout));
    }

    [Fact]
    public async Task An_address_on_the_allow_list_gets_its_limits_multiplied()
    {
        await using var server = await LimitedServer.StartAsync(
            "Chat:Limits:SocketsPerAddress=1", "Chat:Limits:AllowList=100.64.0.0/10, 198.51.100.77", "Chat:Limits:AllowListFactor=3");
        var clients = new List<TestClient>();
        foreach (var address in new[] { "100.64.1.1", "198.51.100.77" })
        {
            for (var i = 0; i < 3; i++)
            {
                var client = await server.ConnectAsync(address);
                await client.BarrierAsync();
                clients.Add(client);
            }

            await using var over = await server.ConnectAsync(address);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await over.Closed.WaitAsync(TestClient.Timeout));
        }

        await using var ordinary = await server.ConnectAsync("198.51.100.78");
        await ordinary.BarrierAsync();
        await using var second = await server.ConnectAsync("198.51.100.78");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await second.Closed.WaitAsync(TestClient.Timeout));
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_defaults_leave_room_for_a_household_behind_one_address()
    {
        // The shipped defaults (appsettings.json), nothing turned off: five people at home start
        // chatting in the same minute, with ten more devices of theirs on the page.
        await using var server = await LimitedServer.StartAsync(LimitSettings.Shipped);
        var sockets = new List<TestClient>();
        for (var i = 0; i < 10; i++)
        {
            sockets.Add(await server.ConnectAsync("192.0.2.50"));
        }

        for (var person = 0; person < 5; person++)
        {
            var visitor = await server.VisitorAsync("192.0.2.50", $"person{person}");
            sockets.Add(visitor);
            Assert.Equal(4, (await Match(visitor)).Code());
            await using var outside = await server.VisitorAsync($"203.0.113.{person + 1}", "outside");
            Assert.Equal(0, (await Match(outside)).Code());
        }

        foreach (var socket in sockets)
        {
            await socket.BarrierAsync();
        }

        Assert.Null(TryValue(await server.MetricsAsync(), "chat_abuse_refusals_total"));
        foreach (var socket in sockets)
        {
            await socket.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_proxy_that_is_not_trusted_is_named_in_the_log_once()
    {
        // Behind nginx without Chat:Cluster:TrustedProxies, every visitor would be nginx's address to the limits.
        var log = new RecordingLogger();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<ILoggerProvider>(log), "Chat:Limits:SocketsPerAddress=30");
        for (var i = 0; i < 3; i++)
        {
            await using var visitor = await TestClient.ConnectAsync(server.WebSocketUri, null, ("X-Forwarded-For", $"203.0.113.{i}"));
            await visitor.BarrierAsync();
        }

        Assert.Single(log.Lines, line => line.Contains("is not in Chat:Cluster:TrustedProxies", StringComparison.Ordinal));
    }

    private static Task<Frame> Match(TestClient client) => client.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");

    /// <summary>The closing socket's release may not have reached logic yet: tries until a socket stays (bounded).</summary>
    private static async Task<TestClient> WhenAdmittedAsync(LimitedServer server, string address)
    {
        for (var attempt = 0; ; attempt++)
        {
            var client = await server.ConnectAsync(address);
            await Task.WhenAny(client.Closed, client.BarrierAsync());
            if (!client.Closed.IsCompleted)
            {
                return client;
            }

            await client.DisposeAsync();
            if (attempt == 50)
            {
                throw new TimeoutException($"no socket from {address} was admitted after one closed");
            }
        }
    }

    /// <summary>Three visitors of one address, each of whom has a session with the other two.</summary>
    private static async Task<(TestClient, TestClient, TestClient)> TalkedToEachOtherAsync(LimitedServer server, string address)
    {
        var a = await server.VisitorAsync(address, "a");
        var b = await server.VisitorAsync(address, "b");
        var c = await server.VisitorAsync(address, "c");
        foreach (var (waiter, caller) in new[] { (a, b), (c, a), (b, c) })
        {
            Assert.Equal(4, (await Match(waiter)).Code());
            Assert.Equal(0, (await Match(caller)).Code());
            await waiter.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        }

        return (a, b, c);
    }
}
