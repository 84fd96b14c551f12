using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Protocol.Seams;

namespace Chat.Testing.Cluster;

/// <summary>
/// The broker side of a logic cluster under test: one push channel shared by every silo, which
/// keeps each socket's pushes in the order they were handed over. A socket exists from
/// <see cref="Open"/> until <see cref="Drop"/> (or until logic closes it); a push to any other is refused.
/// </summary>
public sealed class RecordingBroker(string name) : IPushChannel
{
    private readonly ConcurrentDictionary<ulong, Channel<object>> _sockets = new();
    private long _lastConnection;

    public string Name { get; } = name;

    /// <summary>A new socket on this broker, and the queue its pushes land in.</summary>
    public (ClientEndpoint Endpoint, ChannelReader<object> Pushes) Open()
    {
        var endpoint = new ClientEndpoint(Name, (ulong)Interlocked.Increment(ref _lastConnection));
        var pushes = Channel.CreateUnbounded<object>();
        _sockets[endpoint.ConnectionId] = pushes;
        return (endpoint, pushes.Reader);
    }

    /// <summary>The socket is gone (its pushes from now on are refused).</summary>
    public void Drop(ClientEndpoint endpoint)
    {
        if (_sockets.TryRemove(endpoint.ConnectionId, out var pushes))
        {
            pushes.Writer.TryComplete();
        }
    }

    public ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken) => Deliver(to, push);

    public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken) => Deliver(to, push);

    public ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        Drop(to);
        return ValueTask.CompletedTask;
    }

    private ValueTask<bool> Deliver(ClientEndpoint to, object push) =>
        ValueTask.FromResult(to.Broker == Name && _sockets.TryGetValue(to.ConnectionId, out var pushes) && pushes.Writer.TryWrite(push));
}
