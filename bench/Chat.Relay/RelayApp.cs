using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Relay;

/// <summary>
/// The smallest server that speaks the chat protocol: accounts, FIFO matching, dialogue, typing
/// signals and read receipts relayed in memory, no rules, no store, and the server's heartbeat
/// (<see cref="RelayHeartbeat"/>) so that a crowd costs it what the server's heartbeat costs. Kestrel's socket transport hands each connection
/// to <see cref="RelayConnectionHandler"/>, which does the WebSocket handshake and framing itself
/// over the connection's pipes. Every server figure in docs/benchmarks.md is a ratio to it.
/// </summary>
public static class RelayApp
{
    /// <summary>The server's <c>Chat:Broker:PingInterval</c> default.</summary>
    public static readonly TimeSpan DefaultPingInterval = TimeSpan.FromSeconds(3);

    /// <param name="port">0 picks a free port (read it from <c>app.Urls</c> after start).</param>
    /// <param name="host">An IP address, or <c>localhost</c>.</param>
    /// <param name="pingInterval">The heartbeat's interval: the server's 3 s by default, zero for none.</param>
    public static WebApplication Build(int port, string host = "127.0.0.1", TimeSpan? pingInterval = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<Lobby>();
        builder.Services.AddSingleton(new RelayHeartbeat(pingInterval ?? DefaultPingInterval, TimeProvider.System));
        builder.Services.AddHostedService(services => services.GetRequiredService<RelayHeartbeat>());
        // Reads continue on the thread that completed the receive, and sends run on the thread that
        // flushed: the relay never blocks, so it needs no hop through the thread pool.
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (IPAddress.TryParse(host, out var address))
            {
                kestrel.Listen(address, port, listen => listen.UseConnectionHandler<RelayConnectionHandler>());
            }
            else
            {
                kestrel.ListenLocalhost(port, listen => listen.UseConnectionHandler<RelayConnectionHandler>());
            }
        });
        return builder.Build();
    }
}
