using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Chat.Bench.Connections;

/// <summary>
/// Opens WebSockets to the server from several loopback source addresses (127.0.0.2, .3, …),
/// round-robin, so one run can hold more sockets than one address has ephemeral ports.
/// </summary>
public sealed class VisitorConnector : IDisposable
{
    private readonly IPAddress[] sources;
    private readonly HttpMessageInvoker invoker;
    private int next = -1;

    public VisitorConnector(Uri server, int sourceAddresses)
    {
        Server = server;
        // Binding a source address only works when the server is on loopback too.
        var loopback = IPAddress.TryParse(server.Host, out var host) && IPAddress.IsLoopback(host);
        sources = loopback && sourceAddresses > 0
            ? [.. Enumerable.Range(2, sourceAddresses).Select(i => new IPAddress([127, 0, 0, (byte)i]))]
            : [IPAddress.Any];
        invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = ConnectAsync,
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        });
    }

    public Uri Server { get; }

    public async Task<ClientWebSocket> OpenAsync(CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.HttpVersion = HttpVersion.Version11;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.SetBuffer(1024, 1024);
        try
        {
            await socket.ConnectAsync(Server, invoker, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            var source = sources[(uint)Interlocked.Increment(ref next) % sources.Length];
            if (!source.Equals(IPAddress.Any))
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => invoker.Dispose();
}
