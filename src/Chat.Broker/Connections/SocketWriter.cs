using System.Diagnostics;
using System.Net.WebSockets;
using Chat.Broker.Delivery;

namespace Chat.Broker.Connections;

/// <summary>
/// The send side of one socket: its queue of frames and the one writer that drains it, so writes
/// never interleave. Owns backpressure (a full queue refuses; a replay waits for room below the full
/// mark), the close frame (queued last, after everything before it), and the stamp the heartbeat
/// reads to abort a write stuck on a client that stopped reading. The writer runs only while there
/// is something to write: an idle socket holds a few fields, not a parked task, a channel or a buffer.
/// </summary>
/// <remarks>
/// <para><b>Synchronisation.</b> <c>_gate</c> is the connection's one lock, shared with its
/// <see cref="DeliveryLedger"/>. It guards <c>_queue</c>, <c>_writing</c>, <c>_grown</c>,
/// <c>_completed</c>, <c>_room</c> and <c>_writerDone</c>, and the ledger's queued marks, which are
/// checked and moved only here while a frame is queued, so the marks always agree with the queue's
/// order. Nothing is awaited, and no socket call is made, under the gate.</para>
/// <para>At most one writer runs: whoever queues into an idle queue sets <c>_writing</c> under the
/// gate and starts it; the writer clears it under the gate when it finds the queue empty. Only that
/// writer touches the socket's send side, <c>_sendStartedAt</c> and <see cref="Fault"/>.</para>
/// <para>Read without the lock: <see cref="SendStartedTimestamp"/> (written with <c>Volatile</c> by
/// the writer, read by the heartbeat: a stale value costs at most one sweep); <see cref="Fault"/>
/// (written before the writer marks itself done under the gate, read after <see cref="WhenDone"/>
/// completes, which orders the two).</para>
/// <para><b>Ending a write.</b> Writes take no token (a cancellable send costs every frame the
/// WebSocket's slower path); a write waiting on its client ends when the socket is aborted: by the
/// heartbeat once it has been stuck past the send timeout, when the queue overflows, or by the
/// close deadline (<see cref="ClientConnection.Close"/>, also when the host stops).</para>
/// </remarks>
internal sealed class SocketWriter : IThreadPoolWorkItem
{
    private const int SmallQueue = 16;
    private readonly ClientConnection _connection;
    private readonly WebSocket _socket;
    private readonly Lock _gate;
    private readonly DeliveryLedger _ledger;
    private readonly TimeProvider _time;
    private readonly int _queueLimit;
    private readonly int _replayLimit;
    private Queue<Outbound>? _queue;
    private bool _writing;
    private bool _grown;
    private bool _completed;
    private TaskCompletionSource? _room;
    private TaskCompletionSource? _writerDone;
    private long _sendStartedAt;

    public SocketWriter(ClientConnection connection, WebSocket socket, Lock gate, DeliveryLedger ledger, BrokerOptions options, TimeProvider time)
    {
        _connection = connection;
        _socket = socket;
        _gate = gate;
        _ledger = ledger;
        _time = time;
        _queueLimit = options.SendQueueLength;

        // A replay waits for room below the full mark: a ping or a signal queued meanwhile must
        // not find the queue full and drop a client that is only slow to read a long replay.
        _replayLimit = Math.Max(1, _queueLimit - Math.Max(1, _queueLimit / 4));
    }

    /// <summary>What became of a frame offered to the queue.</summary>
    public enum Queued
    {
        /// <summary>Queued; the writer will write it.</summary>
        Yes,

        /// <summary>A message the socket was already given: dropped, as if written.</summary>
        Repeat,

        /// <summary>The queue is full: the client is not reading.</summary>
        Full,

        /// <summary>Nothing more is written to this socket.</summary>
        Completed,
    }

    /// <summary>When the current socket write started; 0 while the writer is idle.</summary>
    public long SendStartedTimestamp => Volatile.Read(ref _sendStartedAt);

    /// <summary>An unexpected exception that stopped the writer, for the read loop to log.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>Queues a frame (a dialogue push names its session and msgId) if there is room.</summary>
    public Queued TryQueue(byte[] frame, ulong sessionId, ulong msgId)
    {
        bool startWriter;
        lock (_gate)
        {
            if (_completed)
            {
                return Queued.Completed;
            }

            if (_ledger.IsRepeatLocked(sessionId, msgId))
            {
                return Queued.Repeat;
            }

            if (IsFullLocked)
            {
                return Queued.Full;
            }

            startWriter = EnqueueLocked(new Outbound(frame, sessionId, msgId, null, null));
        }

        if (startWriter)
        {
            StartWriter();
        }

        return Queued.Yes;
    }

    /// <summary>Queues a frame, waiting for room (a replay, which leaves a quarter of the queue to other frames); false if the queue completes first.</summary>
    public async ValueTask<bool> QueueWhenRoomAsync(byte[] frame, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task? room = null;
            var startWriter = false;
            lock (_gate)
            {
                if (_completed)
                {
                    return false;
                }

                if (_ledger.IsRepeatLocked(sessionId, msgId))
                {
                    return true;
                }

                if (_queue?.Count >= _replayLimit)
                {
                    _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    room = _room.Task;
                }
                else
                {
                    startWriter = EnqueueLocked(new Outbound(frame, sessionId, msgId, null, null));
                }
            }

            if (room is null)
            {
                if (startWriter)
                {
                    StartWriter();
                }

                return true;
            }

            await room.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Queues a close frame after what is already queued and completes the queue; false (queue
    /// completed, nothing queued) if it was full or completed: a client that is not reading won't
    /// read a close frame either.
    /// </summary>
    public bool TryQueueClose(WebSocketCloseStatus status, string reason)
    {
        bool queued, startWriter = false;
        lock (_gate)
        {
            queued = !_completed && !IsFullLocked;
            if (queued)
            {
                startWriter = EnqueueLocked(new Outbound(null, 0, 0, status, reason));
            }

            CompleteLocked();
        }

        if (startWriter)
        {
            StartWriter();
        }

        return queued;
    }

    /// <summary>Drops what is queued and accepts nothing more (the socket is being aborted).</summary>
    public void Discard()
    {
        lock (_gate)
        {
            _queue?.Clear();
            CompleteLocked();
        }
    }

    /// <summary>Accepts nothing more; what is queued is still written (the read side has ended).</summary>
    public void Complete()
    {
        lock (_gate)
        {
            CompleteLocked();
        }
    }

    /// <summary>Completes when the writer has written (or given up on) everything queued before <see cref="Complete"/>.</summary>
    public Task WhenDone()
    {
        lock (_gate)
        {
            if (_completed && !_writing)
            {
                return Task.CompletedTask;
            }

            _writerDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _writerDone.Task;
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = WriteQueuedAsync();

    // On the thread pool: whoever queues (a grain's turn, the store's commit, a read loop) goes on
    // at once instead of writing to this socket itself.
    private void StartWriter() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    private bool IsFullLocked => _queue?.Count >= _queueLimit;

    /// <summary>Queues a frame under the gate; true if no writer is running and the caller must start one.</summary>
    private bool EnqueueLocked(Outbound item)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        _ledger.NoteQueuedLocked(item.SessionId, item.MsgId);
        (_queue ??= new Queue<Outbound>()).Enqueue(item);
        _grown |= _queue.Count > SmallQueue;
        if (_writing)
        {
            return false;
        }

        _writing = true;
        return true;
    }

    /// <summary>Marks the queue complete (under the gate): nothing more is accepted; waiters are told.</summary>
    private void CompleteLocked()
    {
        _completed = true;
        WakeRoomWaiterLocked();
        if (!_writing)
        {
            _writerDone?.TrySetResult();
        }
    }

    /// <summary>The writer: drains the queue, one frame at a time, then ends until the next frame.</summary>
    private async Task WriteQueuedAsync()
    {
        try
        {
            while (true)
            {
                Outbound item;
                lock (_gate)
                {
                    if (_queue is null || !_queue.TryDequeue(out item))
                    {
                        StopWritingLocked();
                        return;
                    }

                    WakeRoomWaiterLocked();
                }

                Volatile.Write(ref _sendStartedAt, _time.GetTimestamp());
                if (item.CloseStatus is { } status)
                {
                    if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(status, item.CloseReason, CancellationToken.None);
                    }

                    Volatile.Write(ref _sendStartedAt, 0);
                    continue; // Close was queued last: the queue is complete and now empty.
                }

                // No token: a cancellable send takes the WebSocket's slower path for every frame. A
                // write ends early only when the socket is aborted (see the class's remarks).
                await _socket.SendAsync(item.Frame.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

                Volatile.Write(ref _sendStartedAt, 0);
                if (item.MsgId != 0)
                {
                    _connection.PushWritten(item.SessionId, item.MsgId);
                }
            }
        }
        catch (Exception ex)
        {
            // The socket is gone (or, unexpectedly, the write failed otherwise: the read loop logs
            // Fault). Either way nothing more is written, and the read loop ends the connection.
            if (ex is not (WebSocketException or OperationCanceledException or ObjectDisposedException or IOException))
            {
                Fault = ex;
                _socket.Abort();
            }

            Volatile.Write(ref _sendStartedAt, 0);
            lock (_gate)
            {
                _queue?.Clear();
                CompleteLocked();
                StopWritingLocked();
            }
        }
    }

    /// <summary>A replay waiting for room (under the gate) looks again: a frame left, or the queue completed.</summary>
    private void WakeRoomWaiterLocked()
    {
        _room?.TrySetResult();
        _room = null;
    }

    private void StopWritingLocked()
    {
        _writing = false;
        if (_grown)
        {
            // A burst (a replay) grew the queue: don't keep its array for the socket's whole life.
            _queue = null;
            _grown = false;
        }

        if (_completed)
        {
            _writerDone?.TrySetResult();
        }
    }

    /// <summary>A frame, or (last) the close frame.</summary>
    private readonly record struct Outbound(byte[]? Frame, ulong SessionId, ulong MsgId, WebSocketCloseStatus? CloseStatus, string? CloseReason);
}
