using Chat.Broker;
using Chat.Broker.Connections;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Delivery;

/// <summary>A broker that stops tells every socket to reconnect, and no client can make it wait past the close timeout.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task A_client_that_stopped_reading_does_not_hold_up_the_shutdown_past_the_close_timeout()
    {
        // A close timeout of 1 s against the host's own 30 s: the stop must not wait for Bob to read.
        // Every other timeout that could end Bob's socket by itself is far away.
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000", "Chat:Broker:SendQueueLength=1000000",
            "Chat:Broker:SendTimeout=01:00:00", "Chat:Broker:SilenceTimeout=01:00:00", "Chat:Broker:CloseTimeout=00:00:01");
        var (alice, bob, sessionId) = await server.NewPairAsync("alice", "bob");
        await using var a = alice;
        await using var b = bob;
        var bobs = server.Get<ConnectionRegistry>().All.Single(c => c.AccountId == bob.AccountId);

        // Bob's tab freezes while Alice talks on, until the server's write to him is stuck: the
        // same write is still in progress after 50 more of her messages were stored and queued.
        bob.StopReading();
        var content = new string('x', 1000);
        long before = 0;
        var stuck = false;
        for (var i = 0; i < 40_000 && !stuck; i += 50)
        {
            for (var j = i; j < i + 50; j++)
            {
                await alice.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = $"r{j}", senderId = alice.AccountId, sessionId, content });
            }

            await alice.BarrierAsync(); // Alice reads her acks as she goes
            alice.TakeAll("DIALOGUE_RESP");
            var writing = bobs.SendStartedTimestamp;
            stuck = writing != 0 && writing == before;
            before = writing;
        }

        Assert.True(stuck, "the write to Bob never got stuck");

        // The stop queues "service restart" behind the write Bob never takes; at the close timeout
        // that write is cancelled with his socket. Alice, who reads, is told to reconnect.
        await server.StopAsync().WaitAsync(TestClient.Timeout);
        Assert.Equal(BrokerExtensions.ServiceRestart, await alice.Closed.WaitAsync(TestClient.Timeout));
        Assert.True(bobs.IsClosing);
    }
}
