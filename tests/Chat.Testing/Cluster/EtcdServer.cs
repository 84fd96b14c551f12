using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Cluster;

/// <summary>
/// A real one-node etcd (the Debian package's `etcd`) on free loopback ports with a data folder of
/// its own, stopped by the PID it was started with. It can be stopped and started again on the
/// same ports and data, as when etcd goes away for a while. Ready means its <c>/health</c> says so
/// (it has a leader and answers), not just that it listens.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private const string Binary = "/usr/bin/etcd";
    private readonly string _folder;
    private readonly TempFolder? _temporary;
    private readonly string _log;
    private readonly int _peerPort;
    private OwnedProcess? _process;

    private EtcdServer(string folder, TempFolder? temporary, string log, int clientPort, int peerPort)
    {
        _folder = folder;
        _temporary = temporary;
        _log = log;
        ClientPort = clientPort;
        _peerPort = peerPort;
    }

    public int ClientPort { get; }

    /// <summary>Where clients talk to it.</summary>
    public string ClientUrl => $"http://127.0.0.1:{ClientPort}";

    public int PeerPort => _peerPort;

    /// <summary>The PID of the running etcd.</summary>
    public int ProcessId => (_process ?? throw new InvalidOperationException("etcd is not running")).Id;

    /// <summary>A throwaway etcd in a temp folder, deleted on dispose.</summary>
    public static async Task<EtcdServer> StartAsync()
    {
        var temporary = TempFolder.Create("chat-etcd-");
        try
        {
            return await StartAsync(temporary.Path, temporary.File("etcd.log"), temporary, null, CancellationToken.None);
        }
        catch
        {
            temporary.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An etcd with its data in <paramref name="folder"/> (emptied first: it holds only leases that end
    /// within seconds), on <paramref name="ports"/> or new free ones.
    /// </summary>
    public static Task<EtcdServer> StartAsync(string folder, string log, (int Client, int Peer)? ports, CancellationToken cancellationToken) =>
        StartAsync(folder, log, null, ports, cancellationToken);

    /// <summary>Stops it (SIGTERM); its data stays for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.StopAsync(killAfter: true);
            await process.DisposeAsync();
        }
    }

    /// <summary>Starts it again on the same ports and data; waits until it is healthy.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: apt-get install -y etcd-server (.ci/run installs it)");
        }

        Directory.CreateDirectory(_folder);
        var peer = $"http://127.0.0.1:{_peerPort}";
        var process = OwnedProcess.StartLogged("etcd", _log, Binary,
        [
            "--name", "default",
            "--data-dir", Path.Combine(_folder, "data"),
            "--listen-client-urls", ClientUrl,
            "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"default={peer}",
            "--log-level", "warn",
        ]);
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            // {"health":"true"} once it has a leader; "false" (or no answer) before.
            await process.WaitUntilReadyAsync(
                async token => (await http.GetStringAsync(new Uri($"{ClientUrl}/health"), token)).Contains("\"true\"", StringComparison.Ordinal),
                StartTimeout,
                "healthy",
                cancellationToken);
        }
        catch (PortTakenException)
        {
            _process = null;
            await process.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _temporary?.Dispose();
    }

    private static Task<EtcdServer> StartAsync(string folder, string log, TempFolder? temporary, (int Client, int Peer)? ports, CancellationToken cancellationToken) =>
        PortTakenException.RetryAsync(ports is not null, async () =>
        {
            // Each attempt starts empty, so no member data names the ports of one that failed.
            if (Directory.Exists(Path.Combine(folder, "data")))
            {
                Directory.Delete(Path.Combine(folder, "data"), recursive: true);
            }

            var etcd = new EtcdServer(folder, temporary, log, ports?.Client ?? LoopbackPort.ForListening(), ports?.Peer ?? LoopbackPort.ForListening());
            try
            {
                await etcd.StartAgainAsync(cancellationToken);
                return etcd;
            }
            catch (Exception ex) when (ex is not PortTakenException)
            {
                await etcd.StopAsync(); // one that is not healthy in time is not left running
                throw;
            }
        });
}
