using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Chat.Broker.Connections;

/// <summary>
/// A socket refused before it runs (over its address's limit, banned): accepted only to be told why,
/// optionally one frame first, then closed within the close timeout, or aborted past it.
/// </summary>
internal static class RefusedSocket
{
    public static async Task CloseAsync(
        HttpContext context, WebSocketCloseStatus status, string reason, ReadOnlyMemory<byte>? notice, TimeSpan closeTimeout, TimeProvider time)
    {
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
        using var deadline = new CancellationTokenSource(closeTimeout, time);
        try
        {
            if (notice is { } frame)
            {
                await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, deadline.Token);
            }

            await socket.CloseAsync(status, reason, deadline.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            socket.Abort();
        }
    }
}
