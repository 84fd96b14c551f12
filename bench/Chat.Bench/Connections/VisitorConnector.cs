using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Chat.Bench.Connections;

/// <summary>
/// Opens WebSockets to the server from several loopback source addresses (127.0.0.2, .3, …),
/// round-robin, so one run can hold more sockets than one address has ephemeral ports.
/// </summary>
public sealed class VisitorConnector
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);
    private readonly IPAddress[] sources;
    private readonly EndPoint endPoint;
    private int next = -1;

    public VisitorConnector(Uri server, int sourceAddresses)
    {
        if (server.Scheme != "ws")
        {
            throw new ArgumentException($"the bench speaks ws:// only, not {server.Scheme}://", nameof(server));
        }

        Server = server;
        // Binding a source address only works when the server is on loopback too.
        var loopback = IPAddress.TryParse(server.Host, out var host) && IPAddress.IsLoopback(host);
        sources = loopback && sourceAddresses > 0
            ? [.. Enumerable.Range(2, sourceAddresses).Select(i => new IPAddress([127, 0, 0, (byte)i]))]
            : [IPAddress.Any];
        endPoint = host is not null ? new IPEndPoint(host, server.Port) : new DnsEndPoint(server.Host, server.Port, AddressFamily.InterNetwork);
    }

    public Uri Server { get; }

    /// <summary>Connects and upgrades; failures surface as <see cref="WebSocketException"/>, as ClientWebSocket's did.</summary>
    public async Task<VisitorSocket> OpenAsync(int receiveBufferBytes, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            var source = sources[(uint)Interlocked.Increment(ref next) % sources.Length];
            if (!source.Equals(IPAddress.Any))
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(endPoint, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new WebSocketException($"could not connect to {Server}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        try
        {
            return await VisitorSocket.UpgradeAsync(socket, Server, receiveBufferBytes, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new WebSocketException($"the upgrade at {Server} failed: {e.Message}", e);
        }
    }
}
