using System.Net.WebSockets;
using System.Threading.Channels;
using Chat.Broker.Security;
using Chat.Protocol.Seams;

namespace Chat.Broker.Connections;

/// <summary>
/// One client socket: its account binding, its outbound queue and the one loop that writes to it.
/// Everything that wants to send to the client queues a frame here; only the writer loop touches
/// the socket's send side, so writes never interleave.
/// </summary>
public sealed class ClientConnection : IDisposable
{
    private readonly WebSocket _socket;
    private readonly Channel<Outbound> _outbound;
    private readonly TimeProvider _time;
    private readonly TimeSpan _closeTimeout;
    private CancellationTokenSource? _closeDeadline;
    private ulong _accountId;
    private long _lastSeen;
    private long _sendStartedAt;
    private int _closing;
    private int _working;

    public ClientConnection(ulong id, string broker, WebSocket socket, BrokerOptions options, TimeProvider time)
    {
        Id = id;
        Endpoint = new ClientEndpoint(broker, id);
        _socket = socket;
        _time = time;
        _closeTimeout = options.CloseTimeout;
        _lastSeen = time.GetTimestamp();
        _outbound = Channel.CreateBounded<Outbound>(new BoundedChannelOptions(options.SendQueueLength)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
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

    /// <summary>When the current socket write started; 0 while the writer is idle.</summary>
    public long SendStartedTimestamp => Volatile.Read(ref _sendStartedAt);

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

    /// <summary>Queues a frame. A client whose queue is full is not reading: it is aborted.</summary>
    public bool TrySend(byte[] frame, ulong sessionId = 0, ulong msgId = 0)
    {
        if (_outbound.Writer.TryWrite(new Outbound(frame, sessionId, msgId, null, null)))
        {
            return true;
        }

        if (!IsClosing)
        {
            Abort(LeaveKind.Lost);
        }

        return false;
    }

    /// <summary>Queues a frame, waiting for room (a replay); false if the connection ends first.</summary>
    public async ValueTask<bool> SendWhenRoomAsync(byte[] frame, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        try
        {
            await _outbound.Writer.WriteAsync(new Outbound(frame, sessionId, msgId, null, null), cancellationToken);
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
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
        if (!_outbound.Writer.TryWrite(new Outbound(null, 0, 0, status, reason)))
        {
            _socket.Abort(); // The queue is full: the client is not reading, so it won't read a close frame either.
        }

        _outbound.Writer.TryComplete();

        // A client that never answers our close frame is dropped when the close timeout runs out.
        _closeDeadline = new CancellationTokenSource(_closeTimeout, _time);
        _closeDeadline.Token.Register(static state => ((WebSocket)state!).Abort(), _socket);
    }

    /// <summary>Drops the connection without a close frame.</summary>
    public void Abort(LeaveKind leave)
    {
        Interlocked.Exchange(ref _closing, 1);
        ServerLeave ??= leave;
        _outbound.Writer.TryComplete();
        _socket.Abort();
    }

    /// <summary>Stops the writer once the queue is written (the read side has ended).</summary>
    public void CompleteOutbound() => _outbound.Writer.TryComplete();

    /// <summary>The socket is finished with: cancel the close deadline.</summary>
    public void Dispose() => _closeDeadline?.Dispose();

    /// <summary>The one loop that writes to the socket. <paramref name="written"/> is told of each dialogue push written.</summary>
    public async Task RunWriterAsync(Action<ClientConnection, ulong, ulong> written, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var item in _outbound.Reader.ReadAllAsync(cancellationToken))
            {
                Volatile.Write(ref _sendStartedAt, _time.GetTimestamp());
                if (item.CloseStatus is { } status)
                {
                    if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(status, item.CloseReason, cancellationToken);
                    }

                    return;
                }

                await _socket.SendAsync(item.Frame.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
                Volatile.Write(ref _sendStartedAt, 0);
                if (item.MsgId != 0 && !ConfirmsReceipt)
                {
                    written(this, item.SessionId, item.MsgId);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The socket is gone; the read loop notices and logs the account out.
        }
        finally
        {
            Volatile.Write(ref _sendStartedAt, 0);
        }
    }

    private readonly record struct Outbound(byte[]? Frame, ulong SessionId, ulong MsgId, WebSocketCloseStatus? CloseStatus, string? CloseReason);
}
