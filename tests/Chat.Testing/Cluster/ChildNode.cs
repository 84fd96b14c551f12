using Chat.Host;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Cluster;

/// <summary>
/// `chat broker` or `chat logic` as a child process on free loopback ports, so a test can kill it
/// (SIGKILL, as a crash), stop it (SIGTERM), pause it (SIGSTOP, a hung node) and start it again on
/// the same ports and settings. Only the process this fixture started is ever signalled, by its PID.
/// </summary>
public sealed class ChildNode : IAsyncDisposable
{
    public static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(90);

    private readonly string[] _settings;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private OwnedProcess? _process;

    private ChildNode(ChatRole role, string name, string[] settings, IReadOnlyDictionary<string, string> environment)
    {
        Role = role;
        Name = name;
        _settings = settings;
        _environment = environment;
        HttpUri = new Uri($"http://127.0.0.1:{LoopbackPort.Free()}/");
        GrpcAddress = $"127.0.0.1:{LoopbackPort.Free()}";
    }

    public ChatRole Role { get; }

    public string Name { get; }

    /// <summary>The HTTP/1.1 side: health, metrics; on a broker the web client and the WebSocket.</summary>
    public Uri HttpUri { get; }

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>host:port of its gRPC service (h2c).</summary>
    public string GrpcAddress { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The PID of the running child.</summary>
    public int ProcessId => Running().Id;

    /// <summary>Its last lines of output, for a failure message.</summary>
    public string Output => _process?.Output ?? "(not running)";

    /// <summary>Starts the node and waits until its <c>/readyz</c> says ready.</summary>
    /// <param name="settings">Configuration overrides (<c>Key:Sub=value</c>).</param>
    /// <param name="environment">Variables for the child: secrets, which stay off its command line.</param>
    public static async Task<ChildNode> StartAsync(ChatRole role, string name, IEnumerable<string> settings, IReadOnlyDictionary<string, string> environment)
    {
        var node = new ChildNode(role, name, [.. settings], environment);
        try
        {
            await node.StartAgainAsync();
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts it again (after a kill or a stop) on the same ports and settings.</summary>
    public async Task StartAgainAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is still running");
        }

        string[] arguments =
        [
            ChatExecutable.Dll,
            Role.ToString().ToLowerInvariant(),
            $"--urls=http://127.0.0.1:{HttpUri.Port}",
            $"--Chat:Cluster:GrpcUrl=http://{GrpcAddress}",
            "--Logging:LogLevel:Default=Warning",
            .. _settings.Select(setting => "--" + setting),
        ];
        var process = OwnedProcess.Start(Name, ChatExecutable.DotnetHost, arguments, _environment);
        _process = process;
        await Readiness.WaitAsync(HttpUri, Name, StartLimit, () => process.HasExited ? $"it exited:\n{process.Output}" : null);
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash or a pulled plug.</summary>
    public async Task KillAsync()
    {
        var process = Running();
        _process = null;
        await process.KillAsync();
        await process.DisposeAsync();
    }

    /// <summary>SIGTERM: a clean stop (a broker closes its sockets with 1012; a logic node leaves the cluster).</summary>
    public async Task StopAsync(TimeSpan? limit = null)
    {
        var process = Running();
        _process = null;
        await process.StopAsync(limit);
        await process.DisposeAsync();
    }

    /// <summary>SIGSTOP: it stays, holding its sockets, but answers nothing.</summary>
    public void Pause() => Running().Pause();

    public void Resume() => Running().Resume();

    /// <summary>Waits for the node to end by itself (as a logic node declared dead does when it learns so).</summary>
    public async Task ExitedAsync(TimeSpan limit)
    {
        var process = Running();
        await process.ExitedAsync(limit);
        _process = null;
        await process.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.DisposeAsync();
        }
    }

    private OwnedProcess Running() => _process ?? throw new InvalidOperationException($"{Name} is not running");
}
