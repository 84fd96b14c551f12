using System.Net.WebSockets;
using Chat.Broker.Security;
using Chat.Protocol.Seams;

namespace Chat.Broker.Connections;

/// <summary>
/// One client socket: its account binding, its outbound queue and the one writer that drains it.
/// Everything that wants to send to the client queues a frame here; only the writer touches the
/// socket's send side, so writes never interleave. The writer runs only while there is something
/// to write: an idle socket holds a few fields, not a parked task and a channel.
/// </summary>
internal sealed class ClientConnection : IThreadPoolWorkItem, IDisposable
{
    private const int SmallQueue = 16;
    private readonly WebSocket _socket;
    private readonly Lock _gate = new();
    private readonly int _queueLimit;
    private readonly int _replayLimit;
    private readonly TimeProvider _time;
    private readonly TimeSpan _closeTimeout;
    private Queue<Outbound>? _queue; // guarded by _gate, like the three fields below
    private bool _writing;
    private bool _grown;
    private bool _completed;
    private TaskCompletionSource? _room;
    private TaskCompletionSource? _writerDone;
    private Action<ClientConnection, ulong, ulong>? _written;
    private CancellationToken _stopping;
    private CancellationTokenSource? _closeDeadline;
    private ulong _accountId;
    private long _lastSeen;
    private long _sendStartedAt;
    private int _closing;
    private int _working;
    private int _left;
    private Dictionary<ulong, ulong>? _delivered; // guarded by _gate: per session, the highest msgId received and not yet reported
    private Dictionary<ulong, ulong>? _queuedUpTo; // guarded by _gate: per session, the highest msgId queued for this socket

    public ClientConnection(ulong id, string broker, WebSocket socket, BrokerOptions options, TimeProvider time)
    {
        Id = id;
        Endpoint = new ClientEndpoint(broker, id);
        _socket = socket;
        _time = time;
        _closeTimeout = options.CloseTimeout;
        _queueLimit = options.SendQueueLength;

        // A replay waits for room below the full mark: a ping or a signal queued meanwhile must
        // not find the queue full and drop a client that is only slow to read a long replay.
        _replayLimit = Math.Max(1, _queueLimit - Math.Max(1, _queueLimit / 4));
        _lastSeen = time.GetTimestamp();
        Bucket = new TokenBucket(options.RateLimit.PerSecond, options.RateLimit.Burst, time);
    }

    public ulong Id { get; }

    public ClientEndpoint Endpoint { get; }

    public WebSocket Socket => _socket;

    /// <summary>The account bound to this socket; 0 until CRT_ACCOUNT_REQ or RECONNECT_REQ succeeds.</summary>
    public ulong AccountId
    {
        get => Volatile.Read(ref _accountId);
        set => Volatile.Write(ref _accountId, value);
    }

    /// <summary>The client confirms pushes with PUSH_DIALOGUE_RESP, so a socket write alone does not count as delivery.</summary>
    public bool ConfirmsReceipt { get; set; }

    public TokenBucket Bucket { get; }

    public int RefusedInARow { get; set; }

    /// <summary>Set when the server decided to end the connection: how its account leaves.</summary>
    public LeaveKind? ServerLeave { get; private set; }

    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    public long LastSeenTimestamp => Volatile.Read(ref _lastSeen);

    /// <summary>An unexpected exception that stopped the writer, for the read loop to log.</summary>
    public Exception? WriteFault { get; private set; }

    /// <summary>When the current socket write started; 0 while the writer is idle.</summary>
    public long SendStartedTimestamp => Volatile.Read(ref _sendStartedAt);

    /// <summary>True the first time: the account's leave is reported once, however the connection ends.</summary>
    public bool TryLeave() => Interlocked.Exchange(ref _left, 1) == 0;

    public void Touch() => Volatile.Write(ref _lastSeen, _time.GetTimestamp());

    /// <summary>
    /// The read loop is working on one of the client's requests. Whatever the client sends meanwhile
    /// (its pongs too) waits unread, so a slow answer must not count as the client's silence.
    /// </summary>
    public bool IsWorking => Volatile.Read(ref _working) != 0;

    public void BeginRequest() => Volatile.Write(ref _working, 1);

    /// <summary>The request is answered: silence counts from now.</summary>
    public void EndRequest()
    {
        Touch();
        Volatile.Write(ref _working, 0);
    }

    /// <summary>The client received messages up to <paramref name="msgId"/> in the session; true if it is the first mark since the last report.</summary>
    public bool NoteDelivered(ulong sessionId, ulong msgId)
    {
        lock (_gate)
        {
            var first = _delivered is null or { Count: 0 };
            _delivered ??= [];
            if (!_delivered.TryGetValue(sessionId, out var known) || msgId > known)
            {
                _delivered[sessionId] = msgId;
            }

            return first;
        }
    }

    /// <summary>The marks noted since the last report, which they leave.</summary>
    public KeyValuePair<ulong, ulong>[] TakeDelivered()
    {
        lock (_gate)
        {
            if (_delivered is null or { Count: 0 })
            {
                return [];
            }

            KeyValuePair<ulong, ulong>[] marks = [.. _delivered];
            _delivered = null; // an idle socket keeps no dictionary
            return marks;
        }
    }

    /// <summary>
    /// Lets frames be written. <paramref name="written"/> is told of each dialogue push written;
    /// <paramref name="stopping"/> cancels a write in progress when the host stops.
    /// </summary>
    public void Start(Action<ClientConnection, ulong, ulong> written, CancellationToken stopping)
    {
        _written = written;
        _stopping = stopping;
    }

    /// <summary>Queues a frame. A client whose queue is full is not reading: it is aborted.</summary>
    public bool TrySend(byte[] frame, ulong sessionId = 0, ulong msgId = 0)
    {
        bool full, startWriter = false;
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            if (IsRepeatLocked(sessionId, msgId))
            {
                return true;
            }

            full = IsFullLocked;
            if (!full)
            {
                startWriter = Enqueue(new Outbound(frame, sessionId, msgId, null, null));
            }
        }

        if (full)
        {
            if (!IsClosing)
            {
                Abort(LeaveKind.Lost);
            }

            return false;
        }

        if (startWriter)
        {
            StartWriter();
        }

        return true;
    }

    /// <summary>Queues a frame, waiting for room (a replay, which leaves a quarter of the queue to other frames); false if the connection ends first.</summary>
    public async ValueTask<bool> SendWhenRoomAsync(byte[] frame, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
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

                if (IsRepeatLocked(sessionId, msgId))
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
                    startWriter = Enqueue(new Outbound(frame, sessionId, msgId, null, null));
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

    /// <summary>Sends a close frame after what is already queued, then stops writing.</summary>
    public void Close(WebSocketCloseStatus status, string reason, LeaveKind leave)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        ServerLeave = leave;
        bool queued, startWriter = false;
        lock (_gate)
        {
            // A full queue means the client is not reading: it won't read a close frame either.
            queued = !_completed && !IsFullLocked;
            if (queued)
            {
                startWriter = Enqueue(new Outbound(null, 0, 0, status, reason));
            }

            CompleteLocked();
        }

        if (!queued)
        {
            _socket.Abort();
        }
        else if (startWriter)
        {
            StartWriter();
        }

        // A client that never answers our close frame is dropped when the close timeout runs out.
        _closeDeadline = new CancellationTokenSource(_closeTimeout, _time);
        _closeDeadline.Token.Register(static state => ((WebSocket)state!).Abort(), _socket);
    }

    /// <summary>Drops the connection without a close frame.</summary>
    public void Abort(LeaveKind leave)
    {
        Interlocked.Exchange(ref _closing, 1);
        ServerLeave ??= leave;
        lock (_gate)
        {
            _queue?.Clear();
            CompleteLocked();
        }

        _socket.Abort();
    }

    /// <summary>Stops the writer once the queue is written (the read side has ended).</summary>
    public void CompleteOutbound()
    {
        lock (_gate)
        {
            CompleteLocked();
        }
    }

    /// <summary>Completes when the writer has written (or given up on) everything queued before <see cref="CompleteOutbound"/>.</summary>
    public Task WhenWriterDone()
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

    /// <summary>The socket is finished with: cancel the close deadline.</summary>
    public void Dispose() => _closeDeadline?.Dispose();

    void IThreadPoolWorkItem.Execute() => _ = WriteQueuedAsync();

    // On the thread pool, as the channel's reader was: whoever queues (the store's commit loop, a
    // read loop) goes on at once instead of writing to this socket itself.
    private void StartWriter() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    private bool IsFullLocked => _queue?.Count >= _queueLimit;

    /// <summary>
    /// A message this socket was already given (under the gate): logic repeats pushes after a node
    /// of its died, and the seed's client would show them twice.
    /// </summary>
    private bool IsRepeatLocked(ulong sessionId, ulong msgId)
    {
        if (msgId == 0)
        {
            return false;
        }

        return _queuedUpTo is not null && _queuedUpTo.TryGetValue(sessionId, out var queued) && msgId <= queued;
    }

    /// <summary>Queues a frame under the gate; true if no writer is running and the caller must start one.</summary>
    private bool Enqueue(Outbound item)
    {
        if (item.MsgId != 0)
        {
            (_queuedUpTo ??= [])[item.SessionId] = item.MsgId;
        }

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
                        await _socket.CloseOutputAsync(status, item.CloseReason, _stopping);
                    }

                    Volatile.Write(ref _sendStartedAt, 0);
                    continue; // Close was queued last: the queue is complete and now empty.
                }

                await _socket.SendAsync(item.Frame.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, _stopping);
                Volatile.Write(ref _sendStartedAt, 0);
                if (item.MsgId != 0 && !ConfirmsReceipt)
                {
                    _written?.Invoke(this, item.SessionId, item.MsgId);
                }
            }
        }
        catch (Exception ex)
        {
            // The socket is gone (or, unexpectedly, the write failed otherwise: the read loop logs
            // WriteFault). Either way nothing more is written, and the read loop ends the connection.
            if (ex is not (WebSocketException or OperationCanceledException or ObjectDisposedException or IOException))
            {
                WriteFault = ex;
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

    private readonly record struct Outbound(byte[]? Frame, ulong SessionId, ulong MsgId, WebSocketCloseStatus? CloseStatus, string? CloseReason);
}
