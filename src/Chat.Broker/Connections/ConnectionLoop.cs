using System.Buffers;
using System.Net.WebSockets;
using Chat.Broker.Delivery;
using Chat.Broker.Diagnostics;
using Chat.Broker.Frames;
using Chat.Broker.Limits;
using Chat.Broker.Security;
using Chat.Protocol.Frames;
using Chat.Protocol.Limits;
using Chat.Protocol.Seams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Connections;

/// <summary>
/// The life of one socket: read frames (holding no buffer while idle), enforce size, type and rate
/// limits, hand each request to the dispatcher, and on the way out log the account out with how it
/// left (close frame = on purpose; anything else = lost).
/// </summary>
internal sealed partial class ConnectionLoop(
    ConnectionRegistry registry,
    RequestDispatcher dispatcher,
    ILogic logic,
    DeliveryReports deliveries,
    AddressGate addresses,
    Moderation.BanWatch bans,
    IOptions<BrokerOptions> options,
    BrokerMetrics metrics,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<ConnectionLoop> logger)
{
    private const int InitialBufferBytes = 4096;

    // Requests are taken only while a frame is being handled: an idle socket holds none.
    private static readonly ObjectPool<ClientRequest> Requests = ObjectPool.Create<ClientRequest>();
    private readonly BrokerOptions _options = options.Value;
    private Action<ClientConnection, ulong, ulong>? _onPushWritten; // one delegate for all sockets

    /// <summary>Accepts the WebSocket if its address may open one more, and runs it to the end.</summary>
    public async Task AcceptAsync(HttpContext context)
    {
        var address = addresses.AddressOf(context);
        if (bans.Find(address, 0) is { } ban)
        {
            await bans.RefuseSocketAsync(context, ban);
            return;
        }

        if (await addresses.AdmitSocketAsync(address) is { IsRefused: true } refused)
        {
            await addresses.RefuseSocketAsync(context, refused);
            return;
        }

        try
        {
            await RunAsync(context, address);
        }
        finally
        {
            await addresses.ReleaseSocketAsync(address);
        }
    }

    private async Task RunAsync(HttpContext context, string address)
    {
        using var socket = await AcceptWithinLimitAsync(context);
        if (socket is null)
        {
            return;
        }

        // Reads take no token: a dropped connection fails the pending read by itself, and the host's
        // stop closes the socket with a close frame (ClientConnection.Start), then aborts it at the
        // close timeout.
        var stopping = CancellationToken.None;
        var connection = registry.Register(socket);
        connection.Address = address;
        Log.Opened(logger, connection.Id);
        connection.Start(_onPushWritten ??= OnPushWritten, lifetime.ApplicationStopping);
        var how = LeaveKind.Lost;
        var refusedByWebSocket = false;
        try
        {
            how = await ReadAsync(connection, stopping);
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted && connection.ServerLeave is null)
        {
            // The WebSocket layer refused what the client sent (invalid UTF-8: 1007; a protocol
            // error: 1002) and queued its close frame itself: the client misbehaved, as for 1009.
            refusedByWebSocket = true;
            how = LeaveKind.Closed;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            how = connection.ServerLeave ?? LeaveKind.Lost;
        }
        catch (Exception ex)
        {
            Log.Crashed(logger, connection.Id, ex);
            connection.Abort(LeaveKind.Lost);
        }
        finally
        {
            registry.Remove(connection);
            connection.CompleteOutbound();
        }

        await LeaveAsync(connection, how);
        if (refusedByWebSocket)
        {
            await LingerAfterRefusalAsync(context);
        }

        var writer = connection.WhenWriterDone();
        if (!writer.IsCompleted && await Task.WhenAny(writer, Task.Delay(_options.CloseTimeout, time, CancellationToken.None)) != writer)
        {
            socket.Abort();
            await writer;
        }

        if (connection.WriteFault is { } fault)
        {
            Log.Crashed(logger, connection.Id, fault);
        }

        connection.Dispose();
        Log.Closed(logger, connection.Id, connection.AccountId, how);
    }

    /// <summary>The WebSocket, or null (and 503) when Kestrel holds as many as it may (<c>Chat:Http:MaxWebSockets</c>).</summary>
    private async Task<WebSocket?> AcceptWithinLimitAsync(HttpContext context)
    {
        try
        {
            return await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
        }
        catch (InvalidOperationException) when (!context.Response.HasStarted)
        {
            // Kestrel's refusal to upgrade past its limit: counted, not logged per socket (a crowd would flood the log).
            metrics.SocketRefused();
            context.Response.Headers.Upgrade = default;
            context.Response.Headers.Connection = default;
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return null;
        }
    }

    private async Task<LeaveKind> ReadAsync(ClientConnection connection, CancellationToken stopping)
    {
        var socket = connection.Socket;
        var bucket = new TokenBucket(_options.RateLimit.PerSecond, _options.RateLimit.Burst, time); // the client's rate, seen only here
        var refusedInARow = 0;
        while (true)
        {
            // Wait for data without holding a buffer: idle sockets cost no receive memory.
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, stopping);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                return ClosedByClient(connection);
            }

            connection.BeginFrame(); // from now the frame must arrive whole within the frame deadline (the heartbeat checks)

            byte[]? buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
            var request = Requests.Get();
            try
            {
                var length = 0;
                var result = first; // An empty frame is complete after the zero-byte read.
                while (!result.EndOfMessage)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length > _options.MaxFrameBytes)
                        {
                            return await CloseAsync(connection, WebSocketCloseStatus.MessageTooBig, $"frames are limited to {_options.MaxFrameBytes} bytes", stopping);
                        }

                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _options.MaxFrameBytes + 1));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    result = await socket.ReceiveAsync(buffer.AsMemory(length), stopping);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return ClosedByClient(connection);
                    }

                    length += result.Count;
                }

                if (length > _options.MaxFrameBytes)
                {
                    return await CloseAsync(connection, WebSocketCloseStatus.MessageTooBig, $"frames are limited to {_options.MaxFrameBytes} bytes", stopping);
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    return await CloseAsync(connection, WebSocketCloseStatus.InvalidMessageType, "send JSON in text frames", stopping);
                }

                connection.Touch();
                metrics.FrameReceived();
                if (connection.IsClosing)
                {
                    continue; // Closing (replaced, shutting down): answer nothing more.
                }

                // Every frame pays before it is parsed: one that is not even JSON costs a token too.
                var charged = bucket.TryTake();
                request.Reset();
                var malformed = ClientFrameParser.Parse(buffer.AsSpan(0, length), request) == ClientFrameParser.Outcome.Malformed;
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;

                if (!charged)
                {
                    metrics.RateLimited();
                    if (malformed)
                    {
                        connection.TrySend(FrameSerializer.Serialize(new StatusResponse(Commands.ErrorResp, ResultCode.RateLimited, "too many requests")));
                    }
                    else
                    {
                        dispatcher.Refuse(connection, request, ResultCode.RateLimited, "too many requests");
                    }

                    if (++refusedInARow >= _options.RateLimit.MaxRefusedInARow)
                    {
                        Log.Flooding(logger, connection.Id, connection.AccountId);
                        return await CloseAsync(connection, WebSocketCloseStatus.PolicyViolation, "too many requests", stopping);
                    }

                    continue;
                }

                refusedInARow = 0;
                if (malformed)
                {
                    metrics.Error(ResultCode.ParamErr);
                    connection.TrySend(FrameSerializer.Serialize(new StatusResponse(Commands.ErrorResp, ResultCode.ParamErr, "a frame must be one JSON object")));
                    continue;
                }

                connection.BeginRequest();
                try
                {
                    await dispatcher.DispatchAsync(connection, request, stopping);
                }
                finally
                {
                    connection.EndRequest();
                }
            }
            finally
            {
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                Requests.Return(request);
            }
        }
    }

    private static LeaveKind ClosedByClient(ClientConnection connection)
    {
        // Our close frame answered (ServerLeave is set), or the client closing on purpose.
        var how = connection.ServerLeave ?? LeaveKind.Closed;
        connection.Close(WebSocketCloseStatus.NormalClosure, string.Empty, how);
        return how;
    }

    /// <summary>
    /// Closes the socket for the client's misbehaviour: its account leaves as if it had closed, then
    /// the close frame goes. The sessions end first: a partner's message sent once the client is
    /// told must find the session ended (code 4 and PartnerExit), not be acknowledged into a socket
    /// that is closing.
    /// </summary>
    private async Task<LeaveKind> CloseAsync(ClientConnection connection, WebSocketCloseStatus status, string reason, CancellationToken stopping)
    {
        metrics.ClosedByServer((int)status);
        await LeaveAsync(connection, LeaveKind.Closed);
        connection.Close(status, reason, LeaveKind.Closed);
        return await DrainUntilClosedAsync(connection, stopping);
    }

    /// <summary>The account's socket is gone: report what it received, then log it out (once per connection).</summary>
    private async Task LeaveAsync(ClientConnection connection, LeaveKind how)
    {
        if (connection.AccountId == 0 || !connection.TryLeave())
        {
            return;
        }

        await deliveries.FlushAsync(connection);
        try
        {
            await logic.LogoutAsync(connection.AccountId, connection.Endpoint, how, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.LogoutFailed(logger, connection.AccountId, ex);
        }
    }

    /// <summary>
    /// After the WebSocket layer's own close frame (1007, 1002): the socket can read no more, so wait,
    /// within the close timeout, for the client to go. Ending the request at once resets the TCP
    /// connection, and a reset can discard the close frame before the client has read it.
    /// </summary>
    private async Task LingerAfterRefusalAsync(HttpContext context)
    {
        try
        {
            await Task.Delay(_options.CloseTimeout, time, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>After our close frame: discard what the client still sends until its close frame, within the close timeout.</summary>
    private async Task<LeaveKind> DrainUntilClosedAsync(ClientConnection connection, CancellationToken stopping)
    {
        var how = connection.ServerLeave ?? LeaveKind.Closed;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.CloseTimeout);
        var scratch = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
        try
        {
            while (connection.Socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await connection.Socket.ReceiveAsync(scratch.AsMemory(), timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            connection.Socket.Abort();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        return how;
    }

    // A client that does not confirm pushes: a completed socket write is as far as we can know it got there.
    private void OnPushWritten(ClientConnection connection, ulong sessionId, ulong msgId) => deliveries.Delivered(connection, sessionId, msgId);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId} opened.")]
        public static partial void Opened(ILogger logger, ulong connectionId);

        [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} of account {AccountId} closed ({How}).")]
        public static partial void Closed(ILogger logger, ulong connectionId, ulong accountId, LeaveKind how);

        [LoggerMessage(3, LogLevel.Warning, "Connection {ConnectionId} (account {AccountId}) kept flooding; closing it.")]
        public static partial void Flooding(ILogger logger, ulong connectionId, ulong accountId);

        [LoggerMessage(4, LogLevel.Error, "Connection {ConnectionId} failed.")]
        public static partial void Crashed(ILogger logger, ulong connectionId, Exception exception);

        [LoggerMessage(5, LogLevel.Error, "Logging out account {AccountId} failed.")]
        public static partial void LogoutFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
