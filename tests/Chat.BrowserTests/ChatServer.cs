using Chat.Broker.Connections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.BrowserTests;

/// <summary>A fresh all-in-one server (broker, logic, SQLite, web client) on a free loopback port.</summary>
internal sealed class ChatServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DirectoryInfo _dataDir;

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
        var app = Chat.Host.ChatApp.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--Chat:Store:Path={Path.Combine(dataDir.FullName, "chat.db")}",
            // Serve the client straight from the source tree: what the tests load is what is committed.
            $"--webroot={RepoPaths.WebRoot}",
        ]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await app.StartAsync(cts.Token);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? app.Urls.First();
        return new ChatServer(app, dataDir, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Aborts the account's socket without a close frame, as a network loss would.</summary>
    public void DropSocketOf(ulong accountId) =>
        _app.Services.GetRequiredService<ConnectionRegistry>().AbortAccount(accountId);

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        finally
        {
            await _app.DisposeAsync();
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
}
