using System.Diagnostics;
using System.Security.Cryptography;
using Chat.Testing.Network;

namespace Chat.Tests.Fuzzing;

/// <summary>Clients that send what they send very slowly: a slowloris upgrade, a frame a byte a second.</summary>
public static class SlowClients
{
    /// <summary>
    /// Sends an upgrade request a byte every <paramref name="interval"/> and returns how long the
    /// server took to end the connection; null when it was still open at <paramref name="limit"/>.
    /// </summary>
    public static async Task<TimeSpan?> SlowUpgradeAsync(Uri server, TimeSpan interval, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var socket = await RawWebSocket.ConnectTcpAsync(server, cancellationToken);
        using var ws = RawWebSocket.Over(socket);
        var request = RawWebSocket.UpgradeRequest(server, Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));
        var ended = ws.ReadHttpHeadAsync(cancellationToken);
        for (var i = 0; i < request.Length && clock.Elapsed < limit && !ended.IsCompleted; i++)
        {
            try
            {
                await ws.SendAsync(request.AsMemory(i, 1), cancellationToken);
            }
            catch (System.Net.Sockets.SocketException)
            {
                break; // the server reset it
            }

            await Task.WhenAny(ended, Task.Delay(interval, cancellationToken));
        }

        var rest = limit - clock.Elapsed;
        return rest > TimeSpan.Zero && await Task.WhenAny(ended, Task.Delay(rest, cancellationToken)) == ended ? clock.Elapsed : null;
    }

    /// <summary>
    /// Upgrades, then sends one STATS_REQ frame a byte every <paramref name="interval"/>; the server's
    /// close status (null: none) and when it came, or null for both when nothing came by <paramref name="limit"/>.
    /// </summary>
    public static async Task<(ushort? Status, TimeSpan? After)> FrameByteByByteAsync(Uri server, TimeSpan interval, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var ws = await RawWebSocket.ConnectAsync(server, cancellationToken);
        var frame = RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"STATS_REQ\"}"u8);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(limit);
        var closed = ws.ReceiveCloseAsync(stop.Token);
        for (var i = 0; i < frame.Length && !closed.IsCompleted && !stop.IsCancellationRequested; i++)
        {
            try
            {
                await ws.SendAsync(frame.AsMemory(i, 1), stop.Token);
                await Task.WhenAny(closed, Task.Delay(interval, stop.Token));
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
            {
                break;
            }
        }

        try
        {
            return (await closed, clock.Elapsed);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, null);
        }
    }
}
