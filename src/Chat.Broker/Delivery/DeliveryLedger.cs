using System.Diagnostics;

namespace Chat.Broker.Delivery;

/// <summary>
/// One socket's account of its sessions' messages: how far each session's pushes were queued for
/// it (so a push logic repeats after a node of its died is not shown twice), and how far its
/// client has received them and not yet had that reported to logic (<see cref="DeliveryReports"/>
/// takes those marks). Idle, it holds no dictionary.
/// </summary>
/// <remarks>
/// <para><b>Synchronisation.</b> Everything here is guarded by the connection's one lock,
/// <c>_gate</c>, shared with its <see cref="Connections.SocketWriter"/>. The queued marks are read
/// and moved only by the writer's queueing, which holds the gate already (the <c>…Locked</c>
/// methods), so a mark and the queue it describes never disagree. The received marks take the
/// gate themselves: they are noted by the writer after a write or by the read loop on
/// PUSH_DIALOGUE_RESP, and taken by a report, on any thread.</para>
/// <para>Read without the lock: <see cref="ConfirmsReceipt"/>, set by the read loop and read by the
/// writer after each write. A writer that has not seen it yet reports one write as a delivery the
/// client is about to confirm anyway: a mark only ever rises, so nothing is lost or reordered.</para>
/// </remarks>
internal sealed class DeliveryLedger(Lock gate)
{
    private Dictionary<ulong, ulong>? _queuedUpTo; // per session, the highest msgId queued for this socket
    private Dictionary<ulong, ulong>? _received; // per session, the highest msgId received and not yet reported

    /// <summary>The client confirms pushes with PUSH_DIALOGUE_RESP, so a socket write alone does not count as delivery.</summary>
    public bool ConfirmsReceipt { get; set; }

    /// <summary>A message this socket was already given (under the gate): logic repeats pushes after a node of its died, and the seed's client would show them twice.</summary>
    public bool IsRepeatLocked(ulong sessionId, ulong msgId)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        return msgId != 0 && _queuedUpTo is not null && _queuedUpTo.TryGetValue(sessionId, out var queued) && msgId <= queued;
    }

    /// <summary>A message of the session is queued for the socket (under the gate); 0 is not a message.</summary>
    public void NoteQueuedLocked(ulong sessionId, ulong msgId)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        if (msgId != 0)
        {
            (_queuedUpTo ??= [])[sessionId] = msgId;
        }
    }

    /// <summary>The client received messages up to <paramref name="msgId"/> in the session; true if it is the first mark since the last report.</summary>
    public bool NoteReceived(ulong sessionId, ulong msgId)
    {
        lock (gate)
        {
            var first = _received is null or { Count: 0 };
            _received ??= [];
            if (!_received.TryGetValue(sessionId, out var known) || msgId > known)
            {
                _received[sessionId] = msgId;
            }

            return first;
        }
    }

    /// <summary>The marks noted since the last report, which they leave.</summary>
    public KeyValuePair<ulong, ulong>[] TakeReceived()
    {
        lock (gate)
        {
            if (_received is null or { Count: 0 })
            {
                return [];
            }

            KeyValuePair<ulong, ulong>[] marks = [.. _received];
            _received = null; // an idle socket keeps no dictionary
            return marks;
        }
    }
}
