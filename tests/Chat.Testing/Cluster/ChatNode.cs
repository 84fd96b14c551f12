using Chat.Broker.Connections;
using Chat.Host;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Testing.Cluster;

/// <summary>
/// `chat broker` or `chat logic` in this process, on free loopback ports (an HTTP/1.1 one and a
/// gRPC one), with the cluster's secret (plain h2c, as loopback allows) or, given the cluster's
/// certificates, on TLS with a certificate of its own naming its role and gRPC address; a logic node
/// keeps SQLite in a temp folder unless the settings name another store.
/// </summary>
public sealed class ChatNode : IAsyncDisposable
{
    public const string Secret = "test-cluster-secret-of-at-least-32-bytes";

    /// <summary>The headers of a gRPC call a node of the cluster makes: its shared secret.</summary>
    public static Grpc.Core.Metadata WithSecret => new() { { "authorization", "Bearer " + Secret } };
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _data;
    private WebApplication? _app;

    private ChatNode(ChatRole role, TempFolder data, int httpPort, int grpcPort)
    {
        Role = role;
        _data = data;
        HttpUri = new Uri($"http://127.0.0.1:{httpPort}/");
        GrpcAddress = $"127.0.0.1:{grpcPort}";
    }

    public ChatRole Role { get; }

    /// <summary>The HTTP/1.1 side: health, metrics; on a broker the web client and the WebSocket.</summary>
    public Uri HttpUri { get; }

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>host:port of its gRPC service (TLS, or h2c).</summary>
    public string GrpcAddress { get; }

    /// <summary>The name its certificate was issued under (<see cref="ClusterCertificates.CertificateOf"/>), with TLS.</summary>
    public string Name => $"{Role.ToString().ToLowerInvariant()}-{HttpUri.Port}";

    public IServiceProvider Services => (_app ?? throw new InvalidOperationException("stopped")).Services;

    /// <summary>A logic node (SQLite in a temp folder unless <paramref name="settings"/> say otherwise).</summary>
    public static Task<ChatNode> StartLogicAsync(params string[] settings) => StartAsync(ChatRole.Logic, settings);

    /// <summary>A broker that finds logic at the given gRPC addresses.</summary>
    public static Task<ChatNode> StartBrokerAsync(IEnumerable<string> logicAddresses, params string[] settings) =>
        StartAsync(ChatRole.Broker, [$"Chat:Cluster:LogicAddresses={string.Join(',', logicAddresses)}", .. settings]);

    /// <param name="tls">The cluster's certificates: the node gets one naming its role and gRPC address, and talks TLS; null: plain h2c with <see cref="Secret"/>.</param>
    public static async Task<ChatNode> StartAsync(ChatRole role, string[] settings, ClusterCertificates? tls = null)
    {
        // A free port is only free when it is picked: a test running beside this one may take it before the node binds it.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(role, settings, tls);
            }
            catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException && attempt < 3)
            {
            }
        }
    }

    private static async Task<ChatNode> StartOnceAsync(ChatRole role, string[] settings, ClusterCertificates? tls)
    {
        var node = new ChatNode(role, TempFolder.Create("chat-node-"), LoopbackPort.Free(), LoopbackPort.Free());
        string[] transport = [$"--Chat:Cluster:GrpcUrl=http://{node.GrpcAddress}", $"--Chat:Cluster:Secret={Secret}"];
        if (tls is not null)
        {
            await tls.IssueNodeAsync(node.Name, role == ChatRole.Logic ? "logic" : "broker", node.GrpcAddress, CancellationToken.None);
            transport =
            [
                $"--Chat:Cluster:GrpcUrl=https://{node.GrpcAddress}",
                $"--Chat:Cluster:Tls:CertificatePath={tls.CertificateOf(node.Name)}",
                $"--Chat:Cluster:Tls:KeyPath={tls.KeyOf(node.Name)}",
                $"--Chat:Cluster:Tls:CaPath={tls.CaPath}",
            ];
        }

        string[] args =
        [
            $"--urls=http://127.0.0.1:{node.HttpUri.Port}",
            .. transport,
            $"--Chat:Store:Path={node._data.File("chat.db")}",
            "--Logging:LogLevel:Default=Warning",
            .. LimitSettings.Off.Concat(settings).Select(setting => "--" + setting),
        ];
        using var deadline = new CancellationTokenSource(StartTimeout);
        try
        {
            node._app = await ChatApp.StartAsync(role, args, cancellationToken: deadline.Token).Within(StartTimeout, $"starting chat {role}");
        }
        catch
        {
            node._data.Dispose(); // a start refused (as the misconfiguration tests expect) leaves no folder behind
            throw;
        }

        return node;
    }

    public T Get<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>Waits until <c>/readyz</c> says ready (a broker: some logic node answers; logic: its store does).</summary>
    public Task WaitUntilReadyAsync(TimeSpan? limit = null) => Readiness.WaitAsync(HttpUri, $"chat {Role}", limit);

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            try
            {
                await app.StopAsync().Within(TimeSpan.FromSeconds(30), $"stopping chat {Role}");
            }
            catch (TimeoutException ex) when (app.Services.GetService<ConnectionRegistry>() is { } sockets)
            {
                // A broker that will not stop: say whether its sockets' loops are what it waits on.
                throw new TimeoutException($"{ex.Message}; {sockets.Count} of its sockets still registered", ex);
            }
            finally
            {
                await app.DisposeAsync();
            }
        }

        _data.Dispose();
    }
}
