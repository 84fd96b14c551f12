using System.Net.WebSockets;
using Chat.Broker.Connections;
using Chat.Broker.Diagnostics;
using Chat.Broker.Frames;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Heartbeat;

/// <summary>
/// One timer for all sockets: pings each, drops a socket silent past the timeout, closes one whose
/// frame has been arriving for longer than the frame deadline (a frame trickled in keeps no socket
/// and no buffer alive), stops trusting a client to confirm pushes once one has waited past the
/// confirm timeout, and aborts one whose write has been stuck past the send timeout (so a stuck
/// client hurts only itself).
/// </summary>
/// <remarks>
/// The sockets are split into <see cref="Slices"/> groups by connection id, and each group is
/// swept in its own slice of the ping interval. Every socket pinged in one sweep writes, and its
/// client answers, at about the same moment, and each of those needs a buffer from Kestrel's pool,
/// which keeps what it grew to: the fewer sockets a sweep pings at once, the smaller the pool stays
/// (docs/benchmarks.md has the measurements).
/// </remarks>
internal sealed class Heartbeat(ConnectionRegistry registry, IOptions<BrokerOptions> options, BrokerMetrics metrics, TimeProvider time) : BackgroundService
{
    public const int Slices = ConnectionRegistry.Slices;

    private readonly BrokerOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sliceLength = _options.PingInterval / Slices;
        using var timer = new PeriodicTimer(sliceLength, time);
        var started = time.GetTimestamp();
        long swept = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // A late tick (or a clock that jumped) catches up, but never sweeps a socket twice in one tick.
                var due = (long)(time.GetElapsedTime(started) / sliceLength);
                swept = Math.Max(swept, due - Slices);
                for (; swept < due; swept++)
                {
                    Sweep((int)(swept % Slices));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One sweep over the connections of one slice.</summary>
    public void Sweep(int slice)
    {
        var now = time.GetTimestamp();
        foreach (var connection in registry.InSlice(slice))
        {
            if (connection.IsClosing)
            {
                continue;
            }

            if (!connection.IsWorking && time.GetElapsedTime(connection.LastSeenTimestamp, now) > _options.SilenceTimeout)
            {
                connection.Abort(LeaveKind.Lost);
                continue;
            }

            var frameStarted = connection.FrameStartedTimestamp;
            if (frameStarted != 0 && time.GetElapsedTime(frameStarted, now) > _options.FrameDeadline)
            {
                // Lost, not Closed: a network this slow is no reason to end the client's chats.
                metrics.ClosedByServer((int)WebSocketCloseStatus.PolicyViolation);
                connection.Close(WebSocketCloseStatus.PolicyViolation, "a frame must arrive whole within the frame deadline", LeaveKind.Lost);
                continue;
            }

            var unconfirmed = connection.Delivery.OldestUnconfirmedTimestamp;
            if (unconfirmed != 0 && time.GetElapsedTime(unconfirmed, now) > _options.ConfirmTimeout)
            {
                connection.StopTrustingConfirmations();
            }

            var sending = connection.SendStartedTimestamp;
            if (sending != 0 && time.GetElapsedTime(sending, now) > _options.SendTimeout)
            {
                connection.Abort(LeaveKind.Lost);
                continue;
            }

            connection.TrySend(FrameSerializer.Serialize(new PingFrame(Commands.PingReq, connection.AccountId)));
        }
    }
}
