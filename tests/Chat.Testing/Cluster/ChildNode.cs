using Chat.Host;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Cluster;

/// <summary>
/// `chat broker` or `chat logic` as a child process on loopback ports, its output appended to a log
/// file, so a test can kill it (SIGKILL, as a crash), stop it (SIGTERM), pause it (SIGSTOP, a hung
/// node) and start it again on the same ports and settings, and the local cluster can leave it
/// running. Only the process this class started is ever signalled, by its PID.
/// </summary>
public sealed class ChildNode : IAsyncDisposable
{
    public static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(120);

    private readonly NodePlan _plan;
    private readonly TempFolder? _temporary;
    private OwnedProcess? _process;

    private ChildNode(NodePlan plan, NodePorts ports, TempFolder? temporary)
    {
        _plan = plan;
        Ports = ports;
        _temporary = temporary;
    }

    public ChatRole Role => _plan.Role;

    public string Name => _plan.Name;

    public NodePorts Ports { get; }

    /// <summary>Where it runs (loopback, or a host of a fault network).</summary>
    public NetworkPlace Place => _plan.Place;

    /// <summary>The HTTP/1.1 side as this process reaches it: health, metrics; on a broker the web client and the WebSocket.</summary>
    public Uri HttpUri => new($"http://{Place.Door(Ports.Http)}/");

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>host:port of its gRPC service (TLS, or h2c).</summary>
    public string GrpcAddress => $"{Place.Host}:{Ports.Grpc}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The PID of the running child.</summary>
    public int ProcessId => Running().Id;

    /// <summary>Its last lines of output since it was last started, for a failure message.</summary>
    public string Output => _process?.Output ?? "(not running)";

    /// <summary>
    /// Starts the node on <paramref name="ports"/>, or on new free ones (picked again if another
    /// program takes one first), and waits until its <c>/readyz</c> says ready.
    /// </summary>
    public static Task<ChildNode> StartAsync(NodePlan plan, NodePorts? ports = null, CancellationToken cancellationToken = default) =>
        StartAsync(plan, ports, null, cancellationToken);

    /// <summary>
    /// A node on its own, outside a cluster: the chat.dll beside the tests, new free ports, warnings
    /// and above logged to a temp folder of its own (deleted on dispose).
    /// </summary>
    /// <param name="settings">Configuration overrides (<c>Key:Sub=value</c>).</param>
    /// <param name="environment">Variables for the child: secrets, which stay off its command line.</param>
    public static Task<ChildNode> StartAsync(ChatRole role, string name, IEnumerable<string> settings, IReadOnlyDictionary<string, string> environment)
    {
        var temporary = TempFolder.Create("chat-node-");
        var plan = new NodePlan(role, name, temporary.File(name + ".log"), ["Logging:LogLevel:Default=Warning", .. LimitSettings.Off, .. settings], environment, ChatExecutable.Dll, ChatExecutable.DotnetHost);
        return StartAsync(plan, null, temporary, CancellationToken.None);
    }

    private static async Task<ChildNode> StartAsync(NodePlan plan, NodePorts? ports, TempFolder? temporary, CancellationToken cancellationToken)
    {
        try
        {
            return await PortTakenException.RetryAsync(ports is not null, async () =>
            {
                var node = new ChildNode(plan, ports ?? NodePorts.Free(plan.Role), temporary);
                try
                {
                    await node.StartAgainAsync(cancellationToken);
                    return node;
                }
                catch
                {
                    await node.StopProcessAsync(); // its folder, if it has one, stays for the next attempt
                    throw;
                }
            });
        }
        catch
        {
            temporary?.Dispose();
            throw;
        }
    }

    /// <summary>Starts it again (after a kill or a stop) on the same ports and settings.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is still running");
        }

        if (_plan.BeforeStart is { } prepare)
        {
            await prepare(Ports, cancellationToken); // its certificate, which names its gRPC address
        }

        string[] arguments =
        [
            _plan.Dll,
            Role.ToString().ToLowerInvariant(),
            .. NodeSettings.Ports(Place.Host, Ports.Http, Ports.Grpc, _plan.Tls)
                .Concat(Role == ChatRole.Logic ? NodeSettings.SiloPort(Place.Host, Ports.Silo) : [])
                .Concat(_plan.Settings)
                .Select(setting => "--" + setting),
        ];
        var (program, launched) = Place.Launch(_plan.Dotnet, arguments);
        var process = OwnedProcess.StartLogged(Name, _plan.Log, program, launched, _plan.Environment);
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await process.WaitUntilReadyAsync(token => Readiness.IsReadyAsync(http, HttpUri, token), StartLimit, $"ready ({HttpUri}readyz)", cancellationToken);
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
        await StopProcessAsync();
        _temporary?.Dispose();
    }

    private async Task StopProcessAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.DisposeAsync();
        }
    }

    private OwnedProcess Running() => _process ?? throw new InvalidOperationException($"{Name} is not running");
}

/// <summary>What a node runs as: its role and name, where its output goes, its settings and environment, and the chat.dll and dotnet that run it.</summary>
public sealed record NodePlan(ChatRole Role, string Name, string Log, IReadOnlyList<string> Settings, IReadOnlyDictionary<string, string> Environment, string Dll, string Dotnet)
{
    /// <summary>Its gRPC port speaks TLS (its settings name its certificate).</summary>
    public bool Tls { get; init; }

    /// <summary>Runs before each start, once its ports are chosen (its certificate names its gRPC address).</summary>
    public Func<NodePorts, CancellationToken, Task>? BeforeStart { get; init; }

    /// <summary>Where it runs: loopback, or a host of a fault network (it listens on the host's address).</summary>
    public NetworkPlace Place { get; init; } = NetworkPlace.Loopback;
}

/// <summary>A node's ports on 127.0.0.1: HTTP/1.1, gRPC, and the silo's (logic nodes only; 0 on a broker).</summary>
public sealed record NodePorts(int Http, int Grpc, int Silo)
{
    public static NodePorts Free(ChatRole role) =>
        new(LoopbackPort.ForListening(), LoopbackPort.ForListening(), role == ChatRole.Logic ? LoopbackPort.ForListening() : 0);
}
