using Chat.Host;
using Chat.Testing.Files;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Testing.Servers;

/// <summary>
/// The all-in-one `chat` in this process: Kestrel on a free 127.0.0.1 port, SQLite in a temp folder
/// that is deleted on dispose. It can be stopped and started again on the same port and data.
/// </summary>
public sealed class ChatServer : IChatServer, IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly TempFolder _data;
    private readonly string[] _settings;
    private readonly Action<IServiceCollection>? _services;
    private WebApplication? _app;

    private ChatServer(TempFolder data, string[] settings, Action<IServiceCollection>? services)
    {
        _data = data;
        _settings = settings;
        _services = services;
    }

    public string DataDirectory => _data.Path;

    public Uri HttpUri { get; private set; } = null!;

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    public bool IsRunning => _app is not null;

    /// <summary>The running server's services; a restart makes new ones.</summary>
    public IServiceProvider Services => (_app ?? throw new InvalidOperationException("the server is stopped")).Services;

    public T Get<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>Starts a server; <paramref name="settings"/> are configuration overrides such as <c>Chat:Logic:GracePeriod=00:00:00</c>.</summary>
    public static Task<ChatServer> StartAsync(params string[] settings) => StartAsync(settings, services: null);

    /// <summary>Starts a server whose clock is <paramref name="clock"/> (heartbeat, grace periods, rate limits).</summary>
    public static Task<ChatServer> StartWithClockAsync(TimeProvider clock, params string[] settings) =>
        StartAsync(settings, services => services.AddSingleton(clock));

    /// <summary>
    /// Starts a server whose parts <paramref name="services"/> puts in first (a clock, a store) are used
    /// instead of the chat's own. It runs again on every restart.
    /// </summary>
    public static Task<ChatServer> StartWithServicesAsync(Action<IServiceCollection> services, params string[] settings) =>
        StartAsync(settings, services);

    private static async Task<ChatServer> StartAsync(string[] settings, Action<IServiceCollection>? services)
    {
        var server = new ChatServer(TempFolder.Create("chat-test-"), settings, services);
        try
        {
            await server.StartAppAsync(port: 0);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server as a service stop would: it closes every socket with "reconnect" and shuts down.</summary>
    public async Task StopAsync()
    {
        if (_app is not { } app)
        {
            return;
        }

        _app = null;
        try
        {
            using var deadline = new CancellationTokenSource(StopTimeout);
            await app.StopAsync(deadline.Token).Within(StopTimeout, "stopping chat");
        }
        finally
        {
            await app.DisposeAsync().Within(StopTimeout, "disposing chat");
        }
    }

    /// <summary>Stops the server if it runs, then starts a new one on the same port, data folder, settings and services.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAppAsync(HttpUri.Port);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _data.Dispose();
        }
    }

    private async Task StartAppAsync(int port)
    {
        string[] args =
        [
            $"--urls=http://127.0.0.1:{port}",
            $"--Chat:Store:Path={_data.File("chat.db")}",
            "--Logging:LogLevel:Default=Warning",
            .. LimitSettings.Off.Select(setting => "--" + setting), // every visitor is 127.0.0.1 here; tests of the limits turn them on
            // Later keys win, so a test's own settings override the ones above.
            .. _settings.Select(setting => "--" + setting),
        ];
        using var deadline = new CancellationTokenSource(StartTimeout);
        var app = await ChatApp.StartAsync(args, _services, deadline.Token).Within(StartTimeout, "starting chat");
        _app = app;
        HttpUri = new Uri(app.Urls.First());
    }
}
