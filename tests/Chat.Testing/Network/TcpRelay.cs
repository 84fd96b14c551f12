using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Chat.Testing.Network;

/// <summary>
/// A TCP relay on a free 127.0.0.1 port in front of a server, bytes passed on untouched. <see cref="CutAsync"/>
/// resets every connection through it on both sides at once and sends nothing more either way, so the
/// client and the server each see their connection die as on a network loss, with no WebSocket close
/// frame. Connections made after a cut are relayed as before.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan EndTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _server;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<Link, byte> _links = new();
    private readonly Task _accepting;
    private int _cuts;

    private TcpRelay(IPEndPoint server)
    {
        if (!IPAddress.IsLoopback(server.Address))
        {
            throw new ArgumentException("the relay only forwards to loopback addresses", nameof(server));
        }

        _server = server;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    /// <summary>Where clients connect to pass through the relay.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Connections through the relay now.</summary>
    public int OpenConnections => _links.Count;

    public static TcpRelay Start(IPEndPoint server) => new(server);

    /// <summary>A relay to the host and port of <paramref name="server"/> (127.0.0.1 or localhost).</summary>
    public static TcpRelay Start(Uri server)
    {
        var address = server.IsLoopback && !IPAddress.TryParse(server.Host, out _) ? IPAddress.Loopback : IPAddress.Parse(server.Host);
        return new TcpRelay(new IPEndPoint(address, server.Port));
    }

    /// <summary><paramref name="uri"/> with the relay's address in place of the server's: where a client goes to pass through the relay.</summary>
    public Uri Through(Uri uri) => new UriBuilder(uri) { Host = EndPoint.Address.ToString(), Port = EndPoint.Port }.Uri;

    /// <summary>Resets every connection made before this call, both sides, and waits until they are gone.</summary>
    public async Task CutAsync()
    {
        Interlocked.Increment(ref _cuts);
        var links = _links.Keys.ToArray();
        foreach (var link in links)
        {
            link.Cut();
        }

        await Task.WhenAll(links.Select(link => link.Ended)).Within(EndTimeout, "relayed connections to end after a cut");
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync();
        _listener.Dispose();
        try
        {
            await _accepting.Within(EndTimeout, "the relay to stop accepting");
        }
        finally
        {
            try
            {
                await CutAsync();
            }
            finally
            {
                _closing.Dispose();
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_closing.Token);
            }
            catch (Exception ex) when (_closing.IsCancellationRequested && IsConnectionEnd(ex))
            {
                return;
            }

            var cutsBefore = Volatile.Read(ref _cuts);
            var link = new Link(client, ended: link => _links.TryRemove(link, out _));
            _links.TryAdd(link, 0);
            link.Start(_server, _closing.Token);
            // A cut that ran while this connection was being added missed it: it was made before the cut.
            if (Volatile.Read(ref _cuts) != cutsBefore)
            {
                link.Cut();
            }
        }
    }

    private static bool IsConnectionEnd(Exception ex) =>
        ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException;

    /// <summary>One client connection and its connection to the server, copied both ways.</summary>
    private sealed class Link(Socket client, Action<Link> ended)
    {
        // Dual-mode where the OS has IPv6, so [::1] and 127.0.0.1 both work.
        private readonly Socket _server = new(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _cut;

        /// <summary>Completes once both sockets are closed; faults only on an error that is not a connection ending.</summary>
        public Task Ended => _ended.Task;

        public void Start(IPEndPoint server, CancellationToken closing) => _ = RunAsync(server, closing);

        /// <summary>RST to both sides: linger 0 makes the close abortive, so neither gets an orderly end.</summary>
        public void Cut()
        {
            if (Interlocked.Exchange(ref _cut, 1) == 1)
            {
                return;
            }

            Abort(client);
            Abort(_server);
        }

        private async Task RunAsync(IPEndPoint server, CancellationToken closing)
        {
            Exception? failure = null;
            try
            {
                client.NoDelay = true;
                using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(closing))
                {
                    connecting.CancelAfter(ConnectTimeout);
                    await _server.ConnectAsync(server, connecting.Token);
                }

                await Task.WhenAll(PumpAsync(client, _server), PumpAsync(_server, client));
            }
            catch (Exception ex) when (IsConnectionEnd(ex))
            {
                // The server is down (say, restarting) or one side dropped: the other side sees a drop too.
                Cut();
            }
            catch (Exception ex)
            {
                Cut();
                failure = ex;
            }
            finally
            {
                client.Dispose();
                _server.Dispose();
                ended(this);
            }

            if (failure is null)
            {
                _ended.TrySetResult();
            }
            else
            {
                _ended.TrySetException(failure);
            }
        }

        private async Task PumpAsync(Socket from, Socket to)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                    if (read == 0)
                    {
                        // An orderly end on one side is passed on as one, so HTTP keep-alive ends as it would without us.
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }

                    for (var sent = 0; sent < read;)
                    {
                        sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None);
                    }
                }
            }
            catch
            {
                // The other direction must not wait on a connection that is gone.
                Cut();
                throw;
            }
        }

        private static void Abort(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (IsConnectionEnd(ex))
            {
            }

            socket.Dispose();
        }
    }
}
