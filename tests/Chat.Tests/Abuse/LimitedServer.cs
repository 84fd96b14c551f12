using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Abuse;

/// <summary>
/// An all-in-one server behind "a proxy" (this machine, trusted), so each visitor can come from the
/// address its X-Forwarded-For names, on a fake clock; every limit off but those a test turns on.
/// </summary>
internal sealed class LimitedServer : IAsyncDisposable
{
    private LimitedServer(ChatServer server, FakeTimeProvider clock)
    {
        Server = server;
        Clock = clock;
    }

    public ChatServer Server { get; }

    public FakeTimeProvider Clock { get; }

    public static Task<LimitedServer> StartAsync(params string[] limits) => StartWithServicesAsync(_ => { }, limits);

    /// <summary>As <see cref="StartAsync"/>, with parts of the server's own (a store) that <paramref name="services"/> puts in.</summary>
    public static async Task<LimitedServer> StartWithServicesAsync(Action<IServiceCollection> services, params string[] limits)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await ChatServer.StartWithServicesAsync(
            s =>
            {
                s.AddSingleton<TimeProvider>(clock);
                services(s);
            },
            ["Chat:Cluster:TrustedProxies=127.0.0.1", "Chat:Broker:SilenceTimeout=01:00:00", .. limits]);
        return new LimitedServer(server, clock);
    }

    /// <summary>A socket from <paramref name="address"/>.</summary>
    public Task<TestClient> ConnectAsync(string address) => TestClient.ConnectAsync(Server.WebSocketUri, null, ("X-Forwarded-For", address));

    /// <summary>A socket from <paramref name="address"/> with a new account.</summary>
    public async Task<TestClient> VisitorAsync(string address, string nickName = "visitor")
    {
        var client = await ConnectAsync(address);
        await client.CreateAccountAsync(nickName);
        return client;
    }

    public Task<string> MetricsAsync() => Exposition.ReadAsync(Server.HttpUri);

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
