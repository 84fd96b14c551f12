using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Chat.Testing.Network;

/// <summary>
/// A TCP relay on a free 127.0.0.1 port in front of a server, bytes passed on untouched. <see cref="CutAsync"/>
/// resets every connection through it on both sides at once and sends nothing more either way, so the
/// client and the server each see their connection die as on a network loss, with no WebSocket close
/// frame. Connections made after a cut are relayed as before. With <see cref="Delay"/> every chunk of
/// bytes waits a while in each direction (a slow link), still in order. The fault fixture also runs it
/// between network namespaces (<see cref="Between"/>): listening on a socket made in one, dialing from another;
/// and as a transparent hop (<see cref="Transparent"/>) for connections an nft <c>redirect</c> rule sends to it, each
/// passed on to the address its client dialled.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan EndTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly Func<Socket, IPEndPoint> _serverOf;
    private readonly Func<IPEndPoint, CancellationToken, Task<Socket>> _dial;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<Link, byte> _links = new();
    private readonly Task _accepting;
    private int _cuts;

    private TcpRelay(Func<Socket, IPEndPoint> serverOf, Socket listener, Func<IPEndPoint, CancellationToken, Task<Socket>> dial)
    {
        _serverOf = serverOf;
        _listener = listener;
        _dial = dial;
        _listener.Listen(128);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    /// <summary>Where clients connect to pass through the relay.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Connections through the relay now.</summary>
    public int OpenConnections => _links.Count;

    /// <summary>The delay each chunk of bytes waits in each direction from now on (null: none), for connections old and new.</summary>
    public LinkDelay? Delay { get; set; }

    public static TcpRelay Start(IPEndPoint server)
    {
        if (!IPAddress.IsLoopback(server.Address))
        {
            throw new ArgumentException("the relay only forwards to loopback addresses", nameof(server));
        }

        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new TcpRelay(_ => server, listener, DialAsync);
    }

    /// <summary>
    /// A relay that accepts on <paramref name="listener"/> (bound already, in whatever network namespace it was
    /// made) and reaches <paramref name="server"/> through <paramref name="dial"/> (a socket of another namespace).
    /// </summary>
    public static TcpRelay Between(Socket listener, IPEndPoint server, Func<IPEndPoint, CancellationToken, Task<Socket>> dial) => new(_ => server, listener, dial);

    /// <summary>
    /// A relay for connections that an nft <c>redirect</c> rule of the listener's namespace turned to it: each is passed
    /// on to the address and port its client dialled (the connection's original destination, <c>SO_ORIGINAL_DST</c>),
    /// reached through <paramref name="dial"/>. Neither end sees a different address, so TLS names are checked as without it.
    /// </summary>
    public static TcpRelay Transparent(Socket listener, Func<IPEndPoint, CancellationToken, Task<Socket>> dial) => new(OriginalDestination, listener, dial);

    /// <summary>A relay to the host and port of <paramref name="server"/> (127.0.0.1 or localhost).</summary>
    public static TcpRelay Start(Uri server)
    {
        var address = server.IsLoopback && !IPAddress.TryParse(server.Host, out _) ? IPAddress.Loopback : IPAddress.Parse(server.Host);
        return Start(new IPEndPoint(address, server.Port));
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
            var link = new Link(this, client, ended: link => _links.TryRemove(link, out _));
            _links.TryAdd(link, 0);
            link.Start(_closing.Token);
            // A cut that ran while this connection was being added missed it: it was made before the cut.
            if (Volatile.Read(ref _cuts) != cutsBefore)
            {
                link.Cut();
            }
        }
    }

    private static async Task<Socket> DialAsync(IPEndPoint server, CancellationToken cancellationToken)
    {
        // Dual-mode where the OS has IPv6, so [::1] and 127.0.0.1 both work.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(server, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Where the client of a redirected connection meant to go: Linux's <c>SO_ORIGINAL_DST</c> (a <c>sockaddr_in</c>, port and address in network order).</summary>
    private static IPEndPoint OriginalDestination(Socket accepted)
    {
        const int SolIp = 0, SoOriginalDst = 80;
        Span<byte> address = stackalloc byte[16];
        var length = accepted.GetRawSocketOption(SolIp, SoOriginalDst, address);
        if (length < 8)
        {
            throw new InvalidOperationException($"no original destination for a connection from {accepted.RemoteEndPoint} ({length} bytes)");
        }

        var original = new IPEndPoint(new IPAddress(address.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(address.Slice(2, 2)));
        return original.Equals(accepted.LocalEndPoint)
            ? throw new InvalidOperationException($"a connection from {accepted.RemoteEndPoint} dialled the relay itself, not redirected to it")
            : original;
    }

    private static bool IsConnectionEnd(Exception ex) =>
        ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException;

    /// <summary>One client connection and its connection to the server, copied both ways.</summary>
    private sealed class Link(TcpRelay relay, Socket client, Action<Link> ended)
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Socket? _server;
        private int _cut;

        /// <summary>Completes once both sockets are closed; faults only on an error that is not a connection ending.</summary>
        public Task Ended => _ended.Task;

        public void Start(CancellationToken closing) => _ = RunAsync(closing);

        /// <summary>RST to both sides: linger 0 makes the close abortive, so neither gets an orderly end.</summary>
        public void Cut()
        {
            if (Interlocked.Exchange(ref _cut, 1) == 1)
            {
                return;
            }

            Abort(client);
            if (Volatile.Read(ref _server) is { } server)
            {
                Abort(server);
            }
        }

        private async Task RunAsync(CancellationToken closing)
        {
            Exception? failure = null;
            try
            {
                client.NoDelay = true;
                Socket server;
                using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(closing))
                {
                    connecting.CancelAfter(ConnectTimeout);
                    server = await relay._dial(relay._serverOf(client), connecting.Token);
                    Volatile.Write(ref _server, server);
                }

                if (Volatile.Read(ref _cut) == 1)
                {
                    Abort(server); // cut while it was connecting
                    return;
                }

                await Task.WhenAll(PumpAsync(client, server), PumpAsync(server, client));
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
                _server?.Dispose();
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
            // Chunks read wait in a queue until their time, so a delay holds back bytes without holding back reading.
            var queue = Channel.CreateUnbounded<(long Due, byte[]? Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var writing = WriteAsync(queue.Reader, to);
            var buffer = new byte[16 * 1024];
            var lastDue = 0L;
            try
            {
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                    if (read == 0)
                    {
                        queue.Writer.TryWrite((lastDue, null));
                        break;
                    }

                    // Never before the chunk ahead of it: a link may be slow, but TCP keeps the order.
                    lastDue = Math.Max(lastDue, relay.Delay is { } delay ? Environment.TickCount64 + (long)delay.Next().TotalMilliseconds : 0);
                    queue.Writer.TryWrite((lastDue, buffer.AsSpan(0, read).ToArray()));
                }
            }
            catch
            {
                // The other direction must not wait on a connection that is gone.
                Cut();
                throw;
            }
            finally
            {
                queue.Writer.TryComplete();
                await writing;
            }
        }

        private async Task WriteAsync(ChannelReader<(long Due, byte[]? Bytes)> queue, Socket to)
        {
            try
            {
                await foreach (var (due, bytes) in queue.ReadAllAsync())
                {
                    var wait = due - Environment.TickCount64;
                    if (wait > 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(wait)); // the link's delay itself, not a wait for an event
                    }

                    if (bytes is null)
                    {
                        // An orderly end on one side is passed on as one, so HTTP keep-alive ends as it would without us.
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }

                    for (var sent = 0; sent < bytes.Length;)
                    {
                        sent += await to.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
                    }
                }
            }
            catch (Exception ex) when (IsConnectionEnd(ex))
            {
                Cut();
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

/// <summary>How long a chunk of bytes takes over a slow link: <see cref="Mean"/> give or take up to <see cref="Jitter"/>, evenly spread.</summary>
public sealed record LinkDelay(TimeSpan Mean, TimeSpan Jitter)
{
    public TimeSpan Next() => Mean + (Jitter * ((Random.Shared.NextDouble() * 2) - 1));
}
