using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Delivery;

/// <summary>
/// The broker's regular delivery report carries the marks of every socket that received something
/// since the last one, in one call: each client's replay goes on, and a reconnect starts after what
/// the old socket confirmed.
/// </summary>
public sealed class DeliveryReportTests
{
    private static readonly string[] Settings =
        ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000", "Chat:Logic:ReplayPage=5", "Chat:Broker:MaxUnconfirmedPushes=100000"];

    [Fact]
    public async Task One_regular_report_lets_the_replays_of_two_sockets_in_two_sessions_each_go_on_to_its_next_page()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ChatServer.StartWithClockAsync(clock, Settings);
        var (alice, bob, first) = await server.NewPairAsync(confirmReceipt: true);
        var (carol, dave, second) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        await using var c = carol;
        foreach (var (sender, receiver) in new[] { (alice, bob), (carol, dave) })
        {
            sender.AnswerPings = false;
            receiver.Abort();
            await receiver.DisposeAsync();
            await sender.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        }

        var sentToBob = new List<ulong>();
        var sentToDave = new List<ulong>();
        for (var i = 0; i < 8; i++)
        {
            sentToBob.Add((await alice.SayAsync(first, $"b{i}")).ULong("msgId"));
            sentToDave.Add((await carol.SayAsync(second, $"d{i}")).ULong("msgId"));
        }

        var (bobAgain, bobResumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        var (daveAgain, daveResumed) = await dave.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        await using var d = daveAgain;
        Assert.Equal((0, 0), (bobResumed.Code(), daveResumed.Code()));
        bobAgain.AnswerPings = false;
        daveAgain.AnswerPings = false;

        // The first page each, confirmed; nothing more until the broker has told logic.
        var bobGot = await ReceivePageAsync(bobAgain, first, 5);
        var daveGot = await ReceivePageAsync(daveAgain, second, 5);
        await bobAgain.BarrierAsync();
        await daveAgain.BarrierAsync();
        Assert.Empty(bobAgain.TakeAll("PUSH_DIALOGUE_REQ"));
        Assert.Empty(daveAgain.TakeAll("PUSH_DIALOGUE_REQ"));

        // One report interval: one report carries both marks, and both replays go on.
        clock.Advance(TimeSpan.FromSeconds(1));
        bobGot.AddRange(await ReceivePageAsync(bobAgain, first, 3));
        daveGot.AddRange(await ReceivePageAsync(daveAgain, second, 3));
        Assert.Equal(sentToBob, bobGot);
        Assert.Equal(sentToDave, daveGot);
    }

    [Fact]
    public async Task A_socket_that_ends_after_a_regular_report_took_its_marks_replays_after_them_on_the_next_socket()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ChatServer.StartWithClockAsync(clock, Settings);
        var (alice, bob, sessionId) = await server.NewPairAsync(confirmReceipt: true);
        await using var a = alice;
        alice.AnswerPings = false;
        bob.AnswerPings = false;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await alice.SayAsync(sessionId, $"seen{i}")).Code());
        }

        await ReceivePageAsync(bob, sessionId, 3);
        await bob.BarrierAsync();
        clock.Advance(TimeSpan.FromSeconds(1)); // the regular report takes Bob's marks

        // Then Bob's socket drops, and Alice goes on: the next socket gets only what the old one had not.
        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var missed = new List<ulong>();
        for (var i = 0; i < 2; i++)
        {
            missed.Add((await alice.SayAsync(sessionId, $"missed{i}")).ULong("msgId"));
        }

        var (bobAgain, resumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri, confirmReceipt: true);
        await using var b = bobAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(missed, await ReceivePageAsync(bobAgain, sessionId, 2));
        await bobAgain.BarrierAsync();
        Assert.Empty(bobAgain.TakeAll("PUSH_DIALOGUE_REQ"));
    }

    /// <summary>Receives <paramref name="count"/> pushes and confirms the last.</summary>
    private static async Task<List<ulong>> ReceivePageAsync(TestClient client, ulong sessionId, int count)
    {
        var received = new List<ulong>();
        for (var i = 0; i < count; i++)
        {
            received.Add((await client.ExpectAsync("PUSH_DIALOGUE_REQ")).ULong("msgId"));
        }

        await client.SendAsync(new { cmd = "PUSH_DIALOGUE_RESP", code = 0, sessionId, msgId = received[^1] });
        return received;
    }
}
