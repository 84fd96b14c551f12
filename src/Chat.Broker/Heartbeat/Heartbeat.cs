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
public sealed class Heartbeat(ConnectionRegistry registry, IOptions<BrokerOptions> options, TimeProvider time) : BackgroundService
{
    private readonly BrokerOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.PingInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Beat();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One sweep over every connection.</summary>
    public void Beat()
    {
        var now = time.GetTimestamp();
        foreach (var connection in registry.All)
        {
            if (connection.IsClosing)
            {
                continue;
            }

            if (time.GetElapsedTime(connection.LastSeenTimestamp, now) > _options.SilenceTimeout)
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
