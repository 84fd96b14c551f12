using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace Chat.Broker.Handshake;

/// <summary>
/// The <see cref="HttpContext"/> of a handshake <see cref="BrokerHandshake"/> took off Kestrel's HTTP/1.1: the
/// request as parsed, the connection's addresses, its close as <c>RequestAborted</c>, and a WebSocket feature
/// whose accept writes the 101 answer and speaks WebSocket over the connection's own pipes. The broker's
/// endpoint runs on it unchanged (the trusted-proxy rules, the Origin check, bans, the per-address limits);
/// a response it makes instead (400, 403, 503) is written when it returns. Small, and the request's headers
/// are dropped once the socket is accepted, so an idle socket keeps next to nothing of its handshake.
/// </summary>
internal sealed class UpgradedContext : IHttpWebSocketFeature, IDisposable
{
    private static ReadOnlySpan<byte> KeyGuid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    private readonly ConnectionContext _connection;
    private readonly WebSocketCount _count;
    private readonly string _key;
    private readonly MemoryStream _body = new();
    private bool _counted;

    public UpgradedContext(ConnectionContext connection, UpgradeRequest request, IServiceProvider services, WebSocketCount count)
    {
        _connection = connection;
        _count = count;
        _key = request.Key;
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Method = HttpMethods.Get,
            Scheme = "http",
            Path = request.Path,
            RawTarget = request.Path + request.Query,
            QueryString = request.Query,
            Headers = request.Headers,
        });
        features.Set<IHttpResponseFeature>(new HttpResponseFeature());
        features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(_body));
        var remote = connection.RemoteEndPoint as IPEndPoint;
        var local = connection.LocalEndPoint as IPEndPoint;
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = connection.ConnectionId,
            RemoteIpAddress = remote?.Address,
            RemotePort = remote?.Port ?? 0,
            LocalIpAddress = local?.Address,
            LocalPort = local?.Port ?? 0,
        });
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = connection.ConnectionClosed });
        features.Set<IServiceProvidersFeature>(new RequestServicesFeature(services));
        features.Set<IHttpWebSocketFeature>(this);
        Http = new DefaultHttpContext(features);
    }

    public HttpContext Http { get; }

    /// <summary>The WebSocket, once accepted.</summary>
    public WebSocket? Socket { get; private set; }

    public bool IsWebSocketRequest => true;

    /// <summary>The 101 answer and the WebSocket; over <c>Chat:Http:MaxWebSockets</c>, the refusal the endpoint turns into a 503.</summary>
    public async Task<WebSocket> AcceptAsync(WebSocketAcceptContext context)
    {
        if (Socket is not null)
        {
            throw new InvalidOperationException("the WebSocket was accepted already");
        }

        if (!_count.TryTake())
        {
            throw new InvalidOperationException("as many WebSockets are open as Chat:Http:MaxWebSockets allows");
        }

        _counted = true;
        WriteSwitching(_connection.Transport.Output, _key, context.SubProtocol);
        await _connection.Transport.Output.FlushAsync(_connection.ConnectionClosed);
        Http.Features.Get<IHttpRequestFeature>()!.Headers = new HeaderDictionary(); // nothing of the handshake is read again: let it go
        Socket = WebSocket.CreateFromStream(new ConnectionStream(_connection.Transport), new WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = context.SubProtocol,
            KeepAliveInterval = context.KeepAliveInterval ?? TimeSpan.Zero,
        });
        return Socket;
    }

    /// <summary>What the endpoint answered, when it did not accept: its status, <c>Connection: close</c>, its body.</summary>
    public async Task WriteResponseAsync()
    {
        var response = Http.Response;
        var output = _connection.Transport.Output;
        var head = new StringBuilder()
            .Append("HTTP/1.1 ").Append(response.StatusCode).Append(' ').Append(ReasonPhrases.GetReasonPhrase(response.StatusCode)).Append("\r\n")
            .Append("Content-Length: ").Append(_body.Length).Append("\r\n")
            .Append("Connection: close\r\n");
        if (response.ContentType is { Length: > 0 } type)
        {
            head.Append("Content-Type: ").Append(type).Append("\r\n");
        }

        head.Append("\r\n");
        output.Write(Encoding.ASCII.GetBytes(head.ToString()));
        output.Write(_body.GetBuffer().AsSpan(0, (int)_body.Length));
        await output.FlushAsync(_connection.ConnectionClosed);
    }

    /// <summary>Gives back its place under <c>Chat:Http:MaxWebSockets</c> (once), when the socket is done.</summary>
    public void Dispose()
    {
        if (_counted)
        {
            _counted = false;
            _count.Give();
        }

        _body.Dispose();
    }

    private static void WriteSwitching(IBufferWriter<byte> output, string key, string? subProtocol)
    {
        Span<byte> material = stackalloc byte[24 + 36];
        Encoding.ASCII.GetBytes(key, material);
        KeyGuid.CopyTo(material[24..]);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
#pragma warning disable CA5350 // RFC 6455 defines Sec-WebSocket-Accept with SHA-1; it proves the server read the handshake, nothing more
        SHA1.HashData(material, hash);
#pragma warning restore CA5350
        output.Write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "u8);
        output.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(hash)));
        if (subProtocol is not null)
        {
            output.Write(Encoding.ASCII.GetBytes($"\r\nSec-WebSocket-Protocol: {subProtocol}"));
        }

        output.Write("\r\n\r\n"u8);
    }

    private sealed class RequestServicesFeature(IServiceProvider services) : IServiceProvidersFeature
    {
        public IServiceProvider RequestServices { get; set; } = services;
    }
}

/// <summary>The WebSockets open through <see cref="BrokerHandshake"/>, held under <c>Chat:Http:MaxWebSockets</c> as Kestrel holds its own.</summary>
internal sealed class WebSocketCount(long? max)
{
    private long _open;

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _open) <= (max ?? long.MaxValue))
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        return false;
    }

    public void Give() => Interlocked.Decrement(ref _open);
}
