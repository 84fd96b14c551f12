using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Relay;

/// <summary>
/// The smallest server that speaks the chat protocol: accounts, FIFO matching and dialogue relay
/// in memory, no rules, no store. Every server figure in docs/benchmarks.md is a ratio to it.
/// </summary>
public static class RelayApp
{
    /// <param name="port">0 picks a free port (read it from <c>app.Urls</c> after start).</param>
    public static WebApplication Build(int port, string host = "127.0.0.1")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{host}:{port}");
        builder.Services.AddSingleton<Lobby>();
        var app = builder.Build();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Map("/ws", async (Microsoft.AspNetCore.Http.HttpContext context, Lobby lobby) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = 400;
                return;
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            using var connection = new RelayConnection(socket, lobby);
            await connection.RunAsync(context.RequestAborted);
        });
        return app;
    }
}
