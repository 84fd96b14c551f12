using System.Diagnostics;
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
    private const int PortAttempts = 3;
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
    public static Task<EtcdServer> StartAsync(string folder, string log, (int Client, int Peer)? ports, CancellationToken cancellationToken)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        return StartAsync(folder, log, null, ports, cancellationToken);
    }

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
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                _process = null;
                await process.DisposeAsync();
                throw process.ExitedForTakenPort
                    ? new PortTakenException()
                    : new InvalidOperationException($"etcd exited with {process.ExitCode} before it was healthy; {_log}:\n{process.Output}");
            }

            try
            {
                // {"health":"true"} once it has a leader; "false" (or no answer) before.
                if ((await http.GetStringAsync(new Uri($"{ClientUrl}/health"), cancellationToken)).Contains("\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"etcd was not healthy within {StartTimeout.TotalSeconds:0} s; {_log}:\n{process.Output}");
            }

            await Task.Delay(50, cancellationToken); // health is only asked for, never announced
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _temporary?.Dispose();
    }

    private static async Task<EtcdServer> StartAsync(string folder, string log, TempFolder? temporary, (int Client, int Peer)? ports, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var etcd = new EtcdServer(folder, temporary, log, ports?.Client ?? LoopbackPort.ForListening(), ports?.Peer ?? LoopbackPort.ForListening());
            try
            {
                await etcd.StartAgainAsync(cancellationToken);
                return etcd;
            }
            catch (PortTakenException) when (ports is null && attempt < PortAttempts)
            {
                // Another program took a port first: other ports, and no member data naming the old ones.
                if (Directory.Exists(Path.Combine(folder, "data")))
                {
                    Directory.Delete(Path.Combine(folder, "data"), recursive: true);
                }
            }
            catch
            {
                await etcd.StopAsync(); // one that is not healthy in time is not left running
                throw;
            }
        }
    }

    private sealed class PortTakenException : Exception;
}
