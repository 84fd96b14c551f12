using System.Diagnostics;

namespace Chat.Broker.Delivery;

/// <summary>
/// One socket's account of its sessions' messages: how far each session's pushes were queued for
/// it (so a push logic repeats after a node of its died is not shown twice), how far its client
/// has received them and not yet had that reported to logic (<see cref="DeliveryReports"/> takes
/// those marks), and, for a client that confirms, which written pushes it has not confirmed yet.
/// A client that leaves too many of one session's pushes unconfirmed, or one for too long, is not
/// confirming after all: from then on its marks move on socket writes, as for the seed's client.
/// Idle, it holds no dictionary.
/// </summary>
/// <remarks>
/// <para><b>Synchronisation.</b> Everything here is guarded by the connection's one lock,
/// <c>_gate</c>, shared with its <see cref="Connections.SocketWriter"/>. The queued marks are read
/// and moved only by the writer's queueing, which holds the gate already (the <c>…Locked</c>
/// methods), so a mark and the queue it describes never disagree. The received marks and the
/// unconfirmed writes take the gate themselves: they are noted by the writer after a write or by
/// the read loop on PUSH_DIALOGUE_RESP, and taken by a report or the heartbeat, on any thread.</para>
/// <para>Read without the lock: <see cref="ConfirmsReceipt"/> (<c>Volatile</c>), set by the read
/// loop, cleared for good under the gate when the client is found not to confirm, and read by the
/// writer after each write; <see cref="OldestUnconfirmedTimestamp"/> (<c>Volatile</c>, written
/// under the gate, read by the heartbeat). A writer that has not seen a change of
/// <see cref="ConfirmsReceipt"/> yet notes one write the other way: a write noted as a delivery the
/// client is about to confirm anyway, or a write noted as unconfirmed that the demotion (which
/// takes the gate) reports. A mark only ever rises, so nothing is lost or reordered.</para>
/// </remarks>
internal sealed class DeliveryLedger(Lock gate)
{
    private const int KeptUnconfirmed = 16; // a longer list (a replay's burst) is dropped once empty, not kept for the socket's life

    private Dictionary<ulong, ulong>? _queuedUpTo; // per session, the highest msgId queued for this socket
    private Dictionary<ulong, ulong>? _received; // per session, the highest msgId received and not yet reported
    private List<Unconfirmed>? _unconfirmed; // written to a confirming client, not yet confirmed, oldest first
    private long _oldestUnconfirmedAt; // when the first of those was written; 0 when there are none
    private bool _confirms;
    private bool _distrusted;

    /// <summary>What became of a push written to a client that confirms.</summary>
    public enum Written
    {
        /// <summary>Kept until the client confirms it.</summary>
        Unconfirmed,

        /// <summary>The client is not trusted to confirm (any more): the write is its delivery.</summary>
        Delivered,

        /// <summary>The client now leaves too many of the session's pushes unconfirmed: stop trusting it (<see cref="Distrust"/>).</summary>
        TooMany,
    }

    /// <summary>The client confirms pushes with PUSH_DIALOGUE_RESP, so a socket write alone does not count as delivery.</summary>
    public bool ConfirmsReceipt => Volatile.Read(ref _confirms);

    /// <summary>When the oldest push the client has not confirmed was written; 0 when there is none.</summary>
    public long OldestUnconfirmedTimestamp => Volatile.Read(ref _oldestUnconfirmedAt);

    /// <summary>The client says it confirms pushes; ignored once it was found not to.</summary>
    public void ExpectConfirmations()
    {
        if (!Volatile.Read(ref _confirms))
        {
            lock (gate)
            {
                _confirms = !_distrusted;
            }
        }
    }

    /// <summary>A push was written to a client that confirms: kept until it does, unless it is not trusted to any more.</summary>
    public Written NoteWritten(ulong sessionId, ulong msgId, long writtenAt, int maxUnconfirmedPerSession)
    {
        lock (gate)
        {
            if (!_confirms)
            {
                return Written.Delivered;
            }

            var unconfirmed = _unconfirmed ??= [];
            if (unconfirmed.Count == 0)
            {
                Volatile.Write(ref _oldestUnconfirmedAt, writtenAt);
            }

            unconfirmed.Add(new Unconfirmed(sessionId, msgId, writtenAt));
            var ofSession = 0;
            foreach (var push in unconfirmed)
            {
                ofSession += push.SessionId == sessionId ? 1 : 0;
            }

            return ofSession > maxUnconfirmedPerSession ? Written.TooMany : Written.Unconfirmed;
        }
    }

    /// <summary>
    /// The client does not confirm after all: from now on a write is its delivery, and every push it
    /// was written and has not confirmed counts as received (the highest per session, returned for
    /// reporting). Empty if it was distrusted already.
    /// </summary>
    public KeyValuePair<ulong, ulong>[] Distrust()
    {
        lock (gate)
        {
            _confirms = false;
            _distrusted = true;
            if (_unconfirmed is not { Count: > 0 } unconfirmed)
            {
                return [];
            }

            var highest = new Dictionary<ulong, ulong>();
            foreach (var push in unconfirmed)
            {
                highest[push.SessionId] = Math.Max(push.MsgId, highest.GetValueOrDefault(push.SessionId));
            }

            _unconfirmed = null;
            Volatile.Write(ref _oldestUnconfirmedAt, 0);
            return [.. highest];
        }
    }

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

            ForgetUnconfirmedLocked(sessionId, msgId);
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

    /// <summary>The session's pushes up to <paramref name="msgId"/> reached the client: none of them waits for a confirmation any more.</summary>
    private void ForgetUnconfirmedLocked(ulong sessionId, ulong msgId)
    {
        if (_unconfirmed is not { Count: > 0 } unconfirmed)
        {
            return;
        }

        var kept = 0; // in place, oldest first still; no delegate per confirmation
        for (var i = 0; i < unconfirmed.Count; i++)
        {
            if (unconfirmed[i] is var push && (push.SessionId != sessionId || push.MsgId > msgId))
            {
                unconfirmed[kept++] = push;
            }
        }

        unconfirmed.RemoveRange(kept, unconfirmed.Count - kept);
        if (unconfirmed.Count == 0)
        {
            Volatile.Write(ref _oldestUnconfirmedAt, 0);
            if (unconfirmed.Capacity > KeptUnconfirmed)
            {
                _unconfirmed = null;
            }
        }
        else
        {
            Volatile.Write(ref _oldestUnconfirmedAt, unconfirmed[0].WrittenAt);
        }
    }

    private readonly record struct Unconfirmed(ulong SessionId, ulong MsgId, long WrittenAt);
}
