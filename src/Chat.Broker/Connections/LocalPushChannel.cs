using System.Net.WebSockets;
using Chat.Broker.Diagnostics;
using Chat.Broker.Frames;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Broker.Connections;

/// <summary>The in-process push channel: logic and broker in one process (all-in-one).</summary>
internal sealed class LocalPushChannel(ConnectionRegistry registry, BrokerMetrics metrics) : IPushChannel
{
    /// <summary>Close status for a socket whose account was bound to another socket.</summary>
    public const WebSocketCloseStatus Replaced = (WebSocketCloseStatus)4001;

    public async ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken)
    {
        if (!registry.TryGet(to.ConnectionId, out var connection))
        {
            return false;
        }

        var frame = FrameSerializer.Serialize(new PushDialogueRequest(push.MsgId, push.SenderId, push.SessionId, push.Content, push.SentAtUnixMs));
        var queued = push.Replay
            ? await connection.SendWhenRoomAsync(frame, push.SessionId, push.MsgId, cancellationToken)
            : connection.TrySend(frame, push.SessionId, push.MsgId);
        return Queued(queued);
    }

    public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken)
    {
        if (!registry.TryGet(to.ConnectionId, out var connection))
        {
            return ValueTask.FromResult(false);
        }

        if (push.Kind == SignalKind.NewSession)
        {
            connection.JoinedSession(push.SessionId); // before the client can read of it
        }

        return ValueTask.FromResult(Queued(connection.TrySend(SignalFrames.Serialize(push))));
    }

    private bool Queued(bool queued)
    {
        if (queued)
        {
            metrics.PushQueued();
        }

        return queued;
    }

    public ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        if (registry.TryGet(to.ConnectionId, out var connection))
        {
            connection.Close(Replaced, "replaced by another connection", LeaveKind.Lost);
        }

        return ValueTask.CompletedTask;
    }
}
