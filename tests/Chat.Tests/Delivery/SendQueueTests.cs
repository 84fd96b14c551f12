using System.Net.WebSockets;
using System.Text;
using Chat.Broker;
using Chat.Broker.Connections;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Delivery;

/// <summary>One socket's outbound queue: a replay waits for room, and never crowds out the frames that cannot wait.</summary>
public sealed class SendQueueTests
{
    [Fact]
    public async Task A_replay_waiting_for_room_leaves_room_for_a_ping_and_everything_arrives_in_order()
    {
        using var sockets = new PipeWebSockets();
        var connection = new ClientConnection(1, "test", sockets.Server, new BrokerOptions { SendQueueLength = 8 }, TimeProvider.System);
        connection.Start((_, _, _) => { }, CancellationToken.None);

        // The client is not reading: the writer takes a first frame and is stuck on it, so nothing
        // leaves the queue from here on; then queue replayed frames until one has to wait for room.
        Assert.True(connection.TrySend(Encoding.UTF8.GetBytes("first")));
        await sockets.ServerHasBegunWritingAsync().WaitAsync(TestClient.Timeout);
        var replayed = 0;
        Task<bool> waiting;
        while ((waiting = connection.SendWhenRoomAsync(Encoding.UTF8.GetBytes($"r{replayed}"), 1, (ulong)replayed + 1, CancellationToken.None).AsTask()).IsCompleted)
        {
            Assert.True(await waiting);
            replayed++;
        }

        // A ping (or a signal) now must not find the queue full and drop a client that is only slow.
        Assert.True(connection.TrySend(Encoding.UTF8.GetBytes("ping")));
        Assert.False(connection.IsClosing);

        var expected = Enumerable.Range(0, replayed).Select(i => $"r{i}").Prepend("first").Append("ping").Append($"r{replayed}").ToList();
        var received = new List<string>();
        var buffer = new byte[64];
        while (received.Count < expected.Count)
        {
            var result = await sockets.Client.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TestClient.Timeout);
            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            received.Add(Encoding.UTF8.GetString(buffer, 0, result.Count));
        }

        Assert.True(await waiting);
        Assert.Equal(expected, received);
    }
}
