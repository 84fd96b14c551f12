using System.Net.WebSockets;
using Chat.Broker.Delivery;
using Chat.Protocol.Seams;

namespace Chat.Broker.Connections;

/// <summary>
/// One client socket as the broker holds it: its account binding, its liveness (what the heartbeat
/// reads) and how it ends (the close state machine). Sending is its <see cref="SocketWriter"/>'s
/// job and what reached the client its <see cref="DeliveryLedger"/>'s; everything that wants to
/// send to the client goes through <see cref="TrySend"/> or <see cref="SendWhenRoomAsync"/>.
/// </summary>
/// <remarks>
/// <para><b>Synchronisation.</b> The connection makes the one lock, <c>_gate</c>, that its writer
/// and its ledger share (their own notes say what it guards); this class takes it nowhere itself.</para>
/// <para>How it ends is decided once (<see cref="Close"/> with a close frame and a deadline, or
/// <see cref="Abort"/>): <c>_ending</c> goes from 0 (open) to 1 + the
/// <see cref="LeaveKind"/> by <c>Interlocked.CompareExchange</c>, and whoever wins (the read loop,
/// the heartbeat, a push that finds the queue full, the host's stop, a replacing socket) sends the
/// close frame or aborts; the others see <see cref="IsClosing"/>. <c>_left</c> is exchanged the same
/// way, so the account's leave is reported once.</para>
/// <para>Written only by the read loop and read without a lock by the heartbeat and by pushes:
/// <c>_accountId</c>, <c>_lastSeen</c>, <c>_frameStarted</c> and <c>_working</c> (<c>Volatile</c>; a
/// stale read costs a heartbeat sweep, or a push that finds no account yet). <c>_written</c> is set once by
/// <see cref="Start"/> before the socket can have an account, so before any dialogue push.
/// <c>_closeDeadline</c> is set by the one winner of <c>_ending</c>, and it and <c>_onStop</c> are
/// disposed by the read loop at the end.</para>
/// </remarks>
internal sealed class ClientConnection : IDisposable
{
    private readonly WebSocket _socket;
    private readonly SocketWriter _writer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _closeTimeout;
    private readonly int _maxUnconfirmed;
    private Action<ClientConnection, ulong, ulong>? _written;
    private CancellationTokenSource? _closeDeadline;
    private CancellationTokenRegistration _onStop;
    private ulong _accountId;
    private long _lastSeen;
    private long _frameStarted;
    private int _working;
    private int _ending;
    private int _left;
    private ulong[]? _sessions;
    private int _wrongSessions;

    public ClientConnection(ulong id, string broker, WebSocket socket, BrokerOptions options, TimeProvider time)
    {
        Id = id;
        Endpoint = new ClientEndpoint(broker, id);
        _socket = socket;
        _time = time;
        _closeTimeout = options.CloseTimeout;
        _maxUnconfirmed = options.MaxUnconfirmedPushes;
        var gate = new Lock();
        Delivery = new DeliveryLedger(gate);
        _writer = new SocketWriter(this, socket, gate, Delivery, options, time);
        _lastSeen = time.GetTimestamp();
    }

    public ulong Id { get; }

    public ClientEndpoint Endpoint { get; }

    /// <summary>The client's address as the per-address limits count it (<see cref="ClientAddresses.KeyOf"/>); set before the socket reads its first frame.</summary>
    public string Address { get; set; } = ClientAddresses.Unknown;

    public WebSocket Socket => _socket;

    /// <summary>How far this socket's client was given and has received each session's messages.</summary>
    public DeliveryLedger Delivery { get; }

    /// <summary>The account bound to this socket; 0 until CRT_ACCOUNT_REQ or RECONNECT_REQ succeeds.</summary>
    public ulong AccountId
    {
        get => Volatile.Read(ref _accountId);
        set => Volatile.Write(ref _accountId, value);
    }

    /// <summary>The most sessions a socket remembers being told of; past them the oldest is forgotten.</summary>
    public const int KnownSessionsLimit = 32;

    /// <summary>
    /// The socket's client was told of the session (MATCH_RESP, a NewSession signal, RECONNECT_RESP): from
    /// now on it may name it. Called before the frame that tells it is queued, so the client can never
    /// name a session the socket does not know yet. Copy on write: sessions are joined seldom, and
    /// read on every request that names one.
    /// </summary>
    public void JoinedSession(ulong sessionId)
    {
        while (true)
        {
            var known = Volatile.Read(ref _sessions);
            if (known is not null && Array.IndexOf(known, sessionId) >= 0)
            {
                return;
            }

            var kept = known is null ? 0 : Math.Min(known.Length, KnownSessionsLimit - 1);
            var next = new ulong[kept + 1];
            if (known is not null)
            {
                Array.Copy(known, known.Length - kept, next, 0, kept); // the newest, in order
            }

            next[kept] = sessionId;
            if (Interlocked.CompareExchange(ref _sessions, next, known) == known)
            {
                return;
            }
        }
    }

    /// <summary>Requests naming a session this socket does not know that logic answered "not your session" before the broker refuses such requests itself.</summary>
    public const int WrongSessionsLimit = 5;

    /// <summary>Whether the socket's client was told of the session.</summary>
    public bool KnowsSession(ulong sessionId) => Volatile.Read(ref _sessions) is { } known && Array.IndexOf(known, sessionId) >= 0;

    /// <summary>
    /// Whether logic may still be asked about a session this socket does not know: one of the account's
    /// that ended before this socket (a report of it, a late message). Session ids are sequential, so
    /// easy to guess, and each guess would make logic load a session to refuse it: after
    /// <see cref="WrongSessionsLimit"/> wrong ones the broker refuses them itself.
    /// </summary>
    public bool MayAskOfUnknownSessions => Volatile.Read(ref _wrongSessions) < WrongSessionsLimit;

    /// <summary>Logic answered a request naming a session this socket does not know: the account's (it is known from now on), or not (<paramref name="theirs"/> false).</summary>
    public void AskedOfUnknownSession(ulong sessionId, bool theirs)
    {
        if (theirs)
        {
            JoinedSession(sessionId);
        }
        else
        {
            Interlocked.Increment(ref _wrongSessions);
        }
    }

    /// <summary>The client says it confirms pushes (confirmReceipt, or a PUSH_DIALOGUE_RESP); ignored once it was found not to.</summary>
    public void ExpectConfirmations() => Delivery.ExpectConfirmations();

    /// <summary>
    /// The client leaves pushes unconfirmed too long (the heartbeat) or too many (a write): it is not
    /// confirming after all. What it was written counts as received, and so will every later write.
    /// </summary>
    public void StopTrustingConfirmations()
    {
        foreach (var (sessionId, msgId) in Delivery.Distrust())
        {
            _written?.Invoke(this, sessionId, msgId);
        }
    }

    /// <summary>Set when the server decided to end the connection: how its account leaves.</summary>
    public LeaveKind? ServerLeave => Volatile.Read(ref _ending) is var ending and not 0 ? (LeaveKind)(ending - 1) : null;

    public bool IsClosing => Volatile.Read(ref _ending) != 0;

    public long LastSeenTimestamp => Volatile.Read(ref _lastSeen);

    /// <summary>An unexpected exception that stopped the writer, for the read loop to log.</summary>
    public Exception? WriteFault => _writer.Fault;

    /// <summary>When the current socket write started; 0 while the writer is idle.</summary>
    public long SendStartedTimestamp => _writer.SendStartedTimestamp;

    /// <summary>True the first time: the account's leave is reported once, however the connection ends.</summary>
    public bool TryLeave() => Interlocked.Exchange(ref _left, 1) == 0;

    /// <summary>A whole frame arrived (or a request was answered): a sign of life, and no frame is half-read.</summary>
    public void Touch()
    {
        Volatile.Write(ref _lastSeen, _time.GetTimestamp());
        Volatile.Write(ref _frameStarted, 0);
    }

    /// <summary>A frame's first bytes arrived: it must be whole within the frame deadline (<see cref="FrameStartedTimestamp"/>).</summary>
    public void BeginFrame() => Volatile.Write(ref _frameStarted, _time.GetTimestamp());

    /// <summary>When the frame being read began to arrive; 0 while none is.</summary>
    public long FrameStartedTimestamp => Volatile.Read(ref _frameStarted);

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

    /// <summary>
    /// Lets frames be written. <paramref name="written"/> is told of each dialogue push written to a
    /// client that does not confirm receipt. When <paramref name="stopping"/> (the host's stop) fires,
    /// the socket is closed with 1012 "service restart" after what is queued, so its client
    /// reconnects, to another broker if need be; a write still waiting on the client when the close
    /// timeout runs out is cancelled with the socket. A socket opened as the stop began is closed at once.
    /// </summary>
    public void Start(Action<ClientConnection, ulong, ulong> written, CancellationToken stopping)
    {
        _written = written;
        _onStop = stopping.UnsafeRegister(static connection => ((ClientConnection)connection!).CloseForRestart(), this);
    }

    /// <summary>Queues a frame. A client whose queue is full is not reading: it is aborted.</summary>
    public bool TrySend(byte[] frame, ulong sessionId = 0, ulong msgId = 0)
    {
        switch (_writer.TryQueue(frame, sessionId, msgId))
        {
            case SocketWriter.Queued.Yes or SocketWriter.Queued.Repeat:
                return true;
            case SocketWriter.Queued.Full:
                if (!IsClosing)
                {
                    Abort(LeaveKind.Lost);
                }

                return false;
            default:
                return false;
        }
    }

    /// <summary>Queues a frame, waiting for room (a replay, which leaves a quarter of the queue to other frames); false if the connection ends first.</summary>
    public ValueTask<bool> SendWhenRoomAsync(byte[] frame, ulong sessionId, ulong msgId, CancellationToken cancellationToken) =>
        _writer.QueueWhenRoomAsync(frame, sessionId, msgId, cancellationToken);

    /// <summary>Sends a close frame after what is already queued, then stops writing.</summary>
    public void Close(WebSocketCloseStatus status, string reason, LeaveKind leave)
    {
        if (!TryDecideEnd(leave))
        {
            return;
        }

        if (!_writer.TryQueueClose(status, reason))
        {
            _socket.Abort();
        }

        // A client that never answers our close frame is dropped when the close timeout runs out.
        _closeDeadline = new CancellationTokenSource(_closeTimeout, _time);
        _closeDeadline.Token.Register(static state => ((WebSocket)state!).Abort(), _socket);
    }

    /// <summary>Drops the connection without a close frame.</summary>
    public void Abort(LeaveKind leave)
    {
        TryDecideEnd(leave);
        _writer.Discard();
        _socket.Abort();
    }

    /// <summary>Stops the writer once the queue is written (the read side has ended).</summary>
    public void CompleteOutbound() => _writer.Complete();

    /// <summary>Completes when the writer has written (or given up on) everything queued before <see cref="CompleteOutbound"/>.</summary>
    public Task WhenWriterDone() => _writer.WhenDone();

    /// <summary>The socket is finished with: cancel the close deadline and the watch on the host's stop.</summary>
    public void Dispose()
    {
        _onStop.Dispose();
        _closeDeadline?.Dispose();
    }

    /// <summary>The writer wrote a dialogue push: for a client that does not confirm receipt, that is as far as we can know it got there.</summary>
    internal void PushWritten(ulong sessionId, ulong msgId)
    {
        if (!Delivery.ConfirmsReceipt)
        {
            _written?.Invoke(this, sessionId, msgId);
            return;
        }

        // A client that confirms: the write waits for its confirmation, unless it lets too many pile up.
        switch (Delivery.NoteWritten(sessionId, msgId, _time.GetTimestamp(), _maxUnconfirmed))
        {
            case DeliveryLedger.Written.Delivered:
                _written?.Invoke(this, sessionId, msgId);
                break;
            case DeliveryLedger.Written.TooMany:
                StopTrustingConfirmations();
                break;
        }
    }

    // Lost, not Closed: the client did not leave, so its chats wait for it to reconnect.
    private void CloseForRestart() => Close(BrokerExtensions.ServiceRestart, "service restart: reconnect", LeaveKind.Lost);

    /// <summary>True for the first decision on how the connection ends; later ones keep it.</summary>
    private bool TryDecideEnd(LeaveKind leave) => Interlocked.CompareExchange(ref _ending, 1 + (int)leave, 0) == 0;
}
