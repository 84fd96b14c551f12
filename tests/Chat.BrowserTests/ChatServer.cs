using Chat.Broker.Connections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.BrowserTests;

/// <summary>A fresh all-in-one server (broker, logic, SQLite, web client) on a free loopback port.</summary>
internal sealed class ChatServer : IAsyncDisposable
{
    private readonly DirectoryInfo _dataDir;
    private WebApplication _app;

    private ChatServer(WebApplication app, DirectoryInfo dataDir, Uri baseUrl)
    {
        _app = app;
        _dataDir = dataDir;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public static async Task<ChatServer> StartAsync()
    {
        var dataDir = Directory.CreateTempSubdirectory("chat-browser-");
        var app = await StartAppAsync(dataDir, "http://127.0.0.1:0");
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? app.Urls.First();
        return new ChatServer(app, dataDir, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Aborts the account's socket without a close frame, as a network loss would.</summary>
    public void DropSocketOf(ulong accountId) =>
        _app.Services.GetRequiredService<ConnectionRegistry>().AbortAccount(accountId);

    /// <summary>Stops the server (it closes every socket) and starts a new one on the same port and database.</summary>
    public async Task RestartAsync()
    {
        await StopAppAsync(_app);
        _app = await StartAppAsync(_dataDir, BaseUrl.GetLeftPart(UriPartial.Authority));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAppAsync(_app);
        }
        finally
        {
            try
            {
                _dataDir.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A file still open on a slow shutdown: the temp folder is cleaned by the OS.
            }
        }
    }

    private static async Task<WebApplication> StartAppAsync(DirectoryInfo dataDir, string url)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await Chat.Host.ChatApp.StartAsync(
        [
            $"--urls={url}",
            $"--Chat:Store:Path={Path.Combine(dataDir.FullName, "chat.db")}",
            // Serve the client straight from the source tree: what the tests load is what is committed.
            $"--webroot={RepoPaths.WebRoot}",
        ], cancellationToken: cts.Token);
    }

    private static async Task StopAppAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await app.StopAsync(cts.Token);
        }
        finally
        {
            await app.DisposeAsync();
        }
    }
}
