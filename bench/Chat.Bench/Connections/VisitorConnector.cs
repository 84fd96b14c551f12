using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Chat.Bench.Connections;

/// <summary>
/// Opens WebSockets to the server from several loopback source addresses (127.0.0.2, .3, …, on
/// into 127.0.1.0 and beyond: all of 127.0.0.0/8 is this machine's), round-robin, so one run can
/// hold more sockets than one address has ephemeral ports, and a server with per-address limits on
/// sees the visitors as the crowd of many households they stand for.
/// </summary>
public sealed class VisitorConnector
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);
    private readonly IPAddress[] sources;
    private readonly (Uri Server, EndPoint EndPoint)[] servers;
    private int next = -1;

    public VisitorConnector(Uri server, int sourceAddresses)
        : this([server], sourceAddresses)
    {
    }

    /// <summary>Several servers (the brokers of a cluster): each new socket goes to the next in turn.</summary>
    public VisitorConnector(IReadOnlyList<Uri> servers, int sourceAddresses)
    {
        if (servers.FirstOrDefault(s => s.Scheme != "ws") is { } other)
        {
            throw new ArgumentException($"the bench speaks ws:// only, not {other.Scheme}://", nameof(servers));
        }

        // Binding a source address only works when the servers are on loopback too.
        var loopback = servers.All(s => IPAddress.TryParse(s.Host, out var host) && IPAddress.IsLoopback(host));
        sources = loopback && sourceAddresses > 0
            ? [.. Enumerable.Range(2, sourceAddresses).Select(Loopback)]
            : [IPAddress.Any];
        this.servers = [.. servers.Select(s => (s, IPAddress.TryParse(s.Host, out var host)
            ? (EndPoint)new IPEndPoint(host, s.Port)
            : new DnsEndPoint(s.Host, s.Port, AddressFamily.InterNetwork)))];
    }

    /// <summary>The loopback address with this number in its low 24 bits (2: 127.0.0.2, 256: 127.0.1.0).</summary>
    public static IPAddress Loopback(int number)
    {
        if (number is < 1 or >= 1 << 24)
        {
            throw new ArgumentOutOfRangeException(nameof(number), number, "127.0.0.0/8 has 2^24 addresses");
        }

        return new IPAddress([127, (byte)(number >> 16), (byte)(number >> 8), (byte)number]);
    }

    /// <summary>Connects and upgrades; failures surface as <see cref="WebSocketException"/>, as ClientWebSocket's did.</summary>
    public async Task<VisitorSocket> OpenAsync(int receiveBufferBytes, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var n = (uint)Interlocked.Increment(ref next);
        var (server, endPoint) = servers[n % servers.Length];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            var source = sources[n % sources.Length];
            if (!source.Equals(IPAddress.Any))
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(endPoint, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new WebSocketException($"could not connect to {server}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        try
        {
            return await VisitorSocket.UpgradeAsync(socket, server, receiveBufferBytes, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new WebSocketException($"the upgrade at {server} failed: {e.Message}", e);
        }
    }
}
