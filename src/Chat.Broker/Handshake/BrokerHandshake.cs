using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Chat.Broker.Connections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Handshake;

/// <summary>
/// A Kestrel connection middleware that answers the WebSocket handshake for the broker's path itself, so the
/// socket does not keep Kestrel's whole HTTP/1.1 request alive beneath it for its life (about 5.7 KiB of each
/// idle socket's 12; docs/benchmarks.md). It reads the connection's first request head (up to
/// <see cref="UpgradeRequest.MaxHeadBytes"/>, within <c>Chat:Broker:HandshakeTimeout</c>); a strict handshake
/// for <c>Chat:Broker:Path</c> runs the broker's endpoint on an <see cref="UpgradedContext"/>, after the
/// trusted-proxy rules (<see cref="ForwardedHeadersMiddleware"/>, the same options); anything else (another
/// path, another method, TLS, HTTP/2, a head this parser does not take) goes on to Kestrel untouched.
/// </summary>
internal sealed partial class BrokerHandshake(
    BrokerEndpoint endpoint,
    IOptions<BrokerOptions> options,
    IOptions<ForwardedHeadersOptions> forwarded,
    IServiceProvider services,
    TimeProvider time,
    ILoggerFactory loggers)
{
    private readonly ForwardedHeadersMiddleware _forwarders = new(_ => Task.CompletedTask, loggers, forwarded);
    private readonly ILogger _logger = loggers.CreateLogger<BrokerHandshake>();
    private readonly string _path = options.Value.Path;
    private readonly TimeSpan _timeout = options.Value.HandshakeTimeout;
    private readonly byte[] _requestLine = System.Text.Encoding.ASCII.GetBytes("GET " + options.Value.Path);
    private readonly Lock _countGate = new();
    private WebSocketCount? _count;

    /// <summary>The one count of WebSockets opened here, shared by every endpoint the handshake is added to.</summary>
    public WebSocketCount CountUnder(long? maxWebSockets)
    {
        lock (_countGate)
        {
            return _count ??= new WebSocketCount(maxWebSockets);
        }
    }

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, WebSocketCount count)
    {
        var (request, toKestrel) = await ReadHeadAsync(connection);
        if (request is null)
        {
            if (toKestrel)
            {
                await next(connection);
            }

            return;
        }

        using var upgraded = new UpgradedContext(connection, request, services, count);
        try
        {
            _forwarders.ApplyForwarders(upgraded.Http);
            await endpoint.HandleAsync(upgraded.Http);
            if (upgraded.Socket is null)
            {
                await upgraded.WriteResponseAsync();
            }
            else if (upgraded.Socket.State == WebSocketState.Aborted)
            {
                connection.Abort(new ConnectionAbortedException("the WebSocket was aborted"));
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException or ObjectDisposedException)
        {
            connection.Abort(); // the client went away
        }
        catch (Exception ex)
        {
            Log.Failed(_logger, connection.ConnectionId, ex);
            connection.Abort();
        }
    }

    /// <summary>
    /// The handshake, with its head consumed; or no handshake, with nothing consumed and <c>ToKestrel</c> (a
    /// request for Kestrel's HTTP/1.1), or with the connection aborted (no whole head within the timeout).
    /// </summary>
    private async Task<(UpgradeRequest? Request, bool ToKestrel)> ReadHeadAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var deadline = new CancellationTokenSource(_timeout, time);
        long searched = 0; // bytes already looked through for the blank line (a head sent a byte at a time is not searched again and again)
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                connection.Abort(new ConnectionAbortedException("no request head within the handshake timeout"));
                return (null, false);
            }
            catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException)
            {
                return (null, false); // the client went away mid-handshake: nothing to answer, nothing to log
            }

            var buffer = result.Buffer;
            var wanted = _requestLine.Length + 1;
            var start = buffer.FirstSpan.Length >= wanted || buffer.IsSingleSegment ? buffer.FirstSpan : buffer.Slice(0, Math.Min(buffer.Length, wanted)).ToArray();
            if (!UpgradeRequest.MayBeFor(start, _requestLine))
            {
                input.AdvanceTo(buffer.Start);
                return (null, true);
            }

            if (HeadLength(buffer, Math.Max(0, searched - 3)) is { } length)
            {
                var head = buffer.Slice(0, length);
                var request = UpgradeRequest.Parse(head.IsSingleSegment ? head.FirstSpan : head.ToArray());
                if (request is not null && string.Equals(request.Path, _path, StringComparison.OrdinalIgnoreCase))
                {
                    input.AdvanceTo(head.End);
                    return (request, false);
                }

                input.AdvanceTo(buffer.Start);
                return (null, true);
            }

            if (buffer.Length >= UpgradeRequest.MaxHeadBytes || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                return (null, true);
            }

            searched = buffer.Length;
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Where the head ends (after its blank line), looked for from <paramref name="from"/> on; null if not within <see cref="UpgradeRequest.MaxHeadBytes"/>.</summary>
    private static long? HeadLength(ReadOnlySequence<byte> buffer, long from)
    {
        var reader = new SequenceReader<byte>(buffer);
        reader.Advance(from);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8) && reader.Consumed <= UpgradeRequest.MaxHeadBytes ? reader.Consumed : null;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "The WebSocket of connection {ConnectionId} failed.")]
        public static partial void Failed(ILogger logger, string connectionId, Exception exception);
    }
}
