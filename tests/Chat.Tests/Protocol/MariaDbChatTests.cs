using Chat.Broker;
using Chat.Logic.Storage;
using Chat.Logic.Storage.MariaDb;
using Chat.Tests.Infrastructure;
using Chat.Testing.Databases;
using MySqlConnector;

namespace Chat.Tests.Protocol;

/// <summary>The all-in-one server on MariaDB (Chat:Store:Kind=mariadb), over real sockets, through a restart.</summary>
public sealed class MariaDbChatTests
{
    private static readonly string[] NoRateLimit = ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000"];

    [Fact]
    public async Task On_MariaDB_visitors_match_chat_drop_reconnect_and_get_what_they_missed_once_in_order_even_after_a_server_restart()
    {
        var mariadb = await MariaDbServer.Shared;
        var database = await mariadb.CreateDatabaseAsync();
        await using var server = await ChatServer.StartAsync([.. NoRateLimit, "Chat:Store:Kind=mariadb", $"Chat:Store:ConnectionString={database.ConnectionString}"]);
        Assert.IsType<MariaDbChatStore>(server.Get<IChatStore>());
        var (alice, bob, sessionId) = await server.NewPairAsync();

        // Chat both ways.
        var hi = await alice.SayAsync(sessionId, "hi bob", requestId: "a-1");
        Assert.Equal(0, hi.Code());
        Assert.Equal(hi.ULong("msgId"), (await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "hi bob")).ULong("msgId"));
        var hello = await bob.SayAsync(sessionId, "hello alice");
        Assert.Equal(hello.ULong("msgId"), (await alice.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "hello alice")).ULong("msgId"));

        // Bob's socket drops; Alice goes on; Bob comes back and gets all of it, once, in order.
        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var missed = new List<ulong>();
        for (var i = 0; i < 30; i++)
        {
            missed.Add((await alice.SayAsync(sessionId, $"m{i}", requestId: $"m-{i}")).ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        Assert.Equal(0, resumed.Code());
        await AssertReceivesExactlyAsync(bobAgain, missed, i => $"m{i}");
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerBack");

        // Bob drops again and the server restarts: everything it knows is in MariaDB.
        bobAgain.Abort();
        await bobAgain.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var beforeRestart = new List<ulong>();
        for (var i = 0; i < 5; i++)
        {
            beforeRestart.Add((await alice.SayAsync(sessionId, $"r{i}", requestId: $"r-{i}")).ULong("msgId"));
        }

        await server.RestartAsync();
        Assert.Equal(BrokerExtensions.ServiceRestart, await alice.Closed.WaitAsync(TestClient.Timeout));
        await alice.DisposeAsync();
        var (aliceBack, aliceResumed) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceBack;
        Assert.Equal(0, aliceResumed.Code());
        var (bobBack, bobResumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobBack;
        Assert.Equal(0, bobResumed.Code());
        await AssertReceivesExactlyAsync(bobBack, beforeRestart, i => $"r{i}");

        // A retry of a message from before the restart is recognised from the store; new ones rise above.
        Assert.Equal(beforeRestart[4], (await aliceBack.SayAsync(sessionId, "r4", requestId: "r-4")).ULong("msgId"));
        var after = await aliceBack.SayAsync(sessionId, "after the restart");
        Assert.True(after.ULong("msgId") > beforeRestart[4]);
        Assert.Equal(after.ULong("msgId"), (await bobBack.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));

        await using var connection = new MySqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var count = new MySqlCommand("SELECT COUNT(*) FROM message WHERE session_id = @session;", connection);
        count.Parameters.AddWithValue("@session", sessionId);
        Assert.Equal(2L + 30 + 5 + 1, Convert.ToInt64(await count.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
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
        Assert.Empty(receiver.TakeAll("PUSH_DIALOGUE_REQ"));
    }
}
