using Chat.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Tests.Infrastructure;

/// <summary>A real `chat` (Kestrel on a loopback port, SQLite in a temp folder), fresh per test.</summary>
public sealed class ChatServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ChatServer(WebApplication app, string dataDirectory)
    {
        _app = app;
        DataDirectory = dataDirectory;
    }

    public string DataDirectory { get; }

    public Uri HttpUri { get; private set; } = null!;

    public Uri WebSocketUri => new($"ws://{HttpUri.Authority}/ws");

    public IServiceProvider Services => _app.Services;

    public T Get<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    /// <summary>Starts a server; <paramref name="settings"/> are configuration overrides such as <c>Chat:Logic:GracePeriod=00:00:00</c>.</summary>
    public static async Task<ChatServer> StartAsync(params string[] settings) => await StartAsync(settings, services: null);

    /// <summary>Starts a server whose clock is <paramref name="clock"/> (heartbeat, grace periods, rate limits).</summary>
    public static async Task<ChatServer> StartWithClockAsync(TimeProvider clock, params string[] settings) =>
        await StartWithServicesAsync(services => services.AddSingleton(clock), settings);

    /// <summary>Starts a server whose parts <paramref name="services"/> puts in first (a clock, a store) are used instead of the chat's own.</summary>
    public static async Task<ChatServer> StartWithServicesAsync(Action<IServiceCollection> services, params string[] settings) =>
        await StartAsync(settings, services);

    /// <summary>Starts a server on a new data folder, deleted when the server is disposed.</summary>
    private static async Task<ChatServer> StartAsync(string[] settings, Action<IServiceCollection>? services)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("chat-test-").FullName;
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            $"--Chat:Store:Path={Path.Combine(dataDirectory, "chat.db")}",
            "--Logging:LogLevel:Default=Warning",
        };
        args.AddRange(settings.Select(s => "--" + s));
        var app = await ChatApp.StartAsync([.. args], services).WaitAsync(TimeSpan.FromSeconds(30));
        var server = new ChatServer(app, dataDirectory);
        server.HttpUri = new Uri(app.Urls.First());
        return server;
    }

    public async Task<TestClient> ConnectAsync(string? origin = null) => await TestClient.ConnectAsync(WebSocketUri, origin);

    /// <summary>A connected client with a new account.</summary>
    public async Task<TestClient> NewVisitorAsync(string nickName, bool confirmReceipt = false)
    {
        var client = await ConnectAsync();
        await client.CreateAccountAsync(nickName, confirmReceipt);
        return client;
    }

    /// <summary>Two visitors matched with each other.</summary>
    public Task<(TestClient A, TestClient B, ulong SessionId)> NewPairAsync(string a = "alice", string b = "bob", bool confirmReceipt = false) =>
        Pairing.PairAsync(NewVisitorAsync(a, confirmReceipt), NewVisitorAsync(b, confirmReceipt));

    public async Task StopAsync() => await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (ObjectDisposedException)
        {
        }

        await _app.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
