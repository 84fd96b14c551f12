using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Cluster;

/// <summary>
/// A real etcd (the Debian package's `etcd`) on free loopback ports with a data folder of its own,
/// stopped by the PID it was started with. It can be stopped and started again on the same ports
/// and data, as when etcd goes away for a while.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private const string Binary = "/usr/bin/etcd";
    private readonly TempFolder _data = TempFolder.Create("chat-etcd-");
    private readonly int _clientPort = LoopbackPort.Free();
    private readonly int _peerPort = LoopbackPort.Free();
    private OwnedProcess? _process;

    private EtcdServer()
    {
    }

    /// <summary>Where clients talk to it.</summary>
    public string ClientUrl => $"http://127.0.0.1:{_clientPort}";

    public static async Task<EtcdServer> StartAsync()
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: apt-get install -y etcd-server (.ci/run installs it)");
        }

        var etcd = new EtcdServer();
        await etcd.StartProcessAsync();
        return etcd;
    }

    /// <summary>Stops it (SIGTERM); its data stays for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.StopAsync();
            await process.DisposeAsync();
        }
    }

    public Task StartAgainAsync() => StartProcessAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _data.Dispose();
    }

    private async Task StartProcessAsync()
    {
        var peer = $"http://127.0.0.1:{_peerPort}";
        _process = OwnedProcess.Start("etcd", Binary,
        [
            "--name", "default",
            "--data-dir", _data.File("data"),
            "--listen-client-urls", ClientUrl,
            "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"default={peer}",
            "--log-level", "warn",
        ]);
        await _process.WaitForPortAsync(_clientPort, TimeSpan.FromSeconds(30));
    }
}
