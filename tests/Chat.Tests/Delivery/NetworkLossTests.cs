using Chat.Testing.Network;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Delivery;

/// <summary>
/// A connection cut on the way (by the TCP relay the browser tests drop sockets with) is a network
/// loss to both ends: the chat is kept for the grace period, not ended.
/// </summary>
public sealed class NetworkLossTests
{
    [Fact]
    public async Task A_connection_cut_on_the_way_keeps_the_chat_and_the_visitor_resumes_it()
    {
        await using var server = await ChatServer.StartAsync();
        await using var relay = TcpRelay.Start(server.HttpUri);
        var viaRelay = relay.Through(server.WebSocketUri);
        var (alice, bob, sessionId) = await Pairing.PairAsync(NewVisitorAsync(viaRelay, "alice"), server.NewVisitorAsync("bob"));
        await using var b = bob;

        await relay.CutAsync();

        // Alice's socket dies without a close frame; Bob hears she is away, not that she left.
        Assert.Null(await alice.Closed.WaitAsync(TestClient.Timeout));
        var away = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        Assert.Equal(alice.AccountId, away.DataAccountId);
        await alice.DisposeAsync();

        // The relay passes new connections again: Alice is back in the same chat.
        var (aliceAgain, resumed) = await alice.ReconnectOnNewSocketAsync(viaRelay);
        await using var a = aliceAgain;
        Assert.Equal(0, resumed.Code());
        Assert.Equal(0, (await bob.SayAsync(sessionId, "welcome back")).Code());
        Assert.Equal("welcome back", (await aliceAgain.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.DoesNotContain(bob.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") == "PartnerExit");
    }

    private static async Task<TestClient> NewVisitorAsync(Uri webSocketUri, string nickName)
    {
        var client = await TestClient.ConnectAsync(webSocketUri);
        await client.CreateAccountAsync(nickName);
        return client;
    }
}
