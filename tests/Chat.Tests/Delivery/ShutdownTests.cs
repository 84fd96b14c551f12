using Chat.Broker.Connections;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Delivery;

/// <summary>A broker that stops closes every socket, and no client can make it wait.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task A_client_that_stopped_reading_does_not_hold_up_the_shutdown()
    {
        // Every timeout that could end Bob's socket by itself is far away: only the stop may end it.
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000", "Chat:Broker:SendQueueLength=1000000",
            "Chat:Broker:SendTimeout=01:00:00", "Chat:Broker:SilenceTimeout=01:00:00", "Chat:Broker:CloseTimeout=01:00:00");
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

        // Alice leaves (her socket answers close frames, which this test client does not). The stop
        // then cancels the write to Bob instead of waiting an hour for him to read again.
        await alice.CloseAsync();
        await alice.Closed.WaitAsync(TestClient.Timeout);
        await server.StopAsync().WaitAsync(TestClient.Timeout);
    }
}
