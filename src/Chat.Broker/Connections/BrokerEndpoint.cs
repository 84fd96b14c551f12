using Chat.Broker.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Chat.Broker.Connections;

/// <summary>
/// The WebSocket endpoint (<c>Chat:Broker:Path</c>): the page's Origin checked, no new socket while the host
/// stops, then the socket's life (<see cref="ConnectionLoop"/>). The same for a handshake Kestrel's HTTP/1.1
/// took and for one <see cref="Handshake.BrokerHandshake"/> took off it.
/// </summary>
internal sealed class BrokerEndpoint(ConnectionLoop loop, OriginPolicy origins, IHostApplicationLifetime lifetime)
{
    // A plain RequestDelegate: it lives as long as the socket, so it should hold as little as possible.
    // Not async itself: the socket's task is the loop's own, with no frame of this method kept beside it.
    public Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return context.Response.WriteAsync("WebSocket only");
        }

        if (!origins.IsAllowed(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return Task.CompletedTask;
        }

        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        }

        return loop.AcceptAsync(context);
    }
}
