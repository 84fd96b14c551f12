using Chat.Broker.Connections;
using Chat.Broker.Frames;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Heartbeat;

/// <summary>
/// One timer for all sockets: pings each, drops a socket silent past the timeout, and aborts one
/// whose write has been stuck past the send timeout (so a stuck client hurts only itself).
/// </summary>
/// <remarks>
/// The sockets are split into <see cref="Slices"/> groups by connection id, and each group is
/// swept in its own slice of the ping interval. Pinging every socket at the same instant would
/// make all of them write, and all their clients answer, at once: the server's buffer pools would
/// then grow to hold a buffer for every socket, which is most of an idle socket's memory.
/// </remarks>
public sealed class Heartbeat(ConnectionRegistry registry, IOptions<BrokerOptions> options, TimeProvider time) : BackgroundService
{
    public const int Slices = 10;

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
        foreach (var connection in registry.All)
        {
            if ((int)(connection.Id % Slices) != slice || connection.IsClosing)
            {
                continue;
            }

            if (!connection.IsWorking && time.GetElapsedTime(connection.LastSeenTimestamp, now) > _options.SilenceTimeout)
            {
                connection.Abort(LeaveKind.Lost);
                continue;
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
