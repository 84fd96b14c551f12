using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;

namespace Chat.Relay;

/// <summary>
/// The server's heartbeat at its cost and no more, so the bench compares like with like: one timer
/// for all sockets sends PING_REQ to each once per interval (3 s, the server's
/// <c>Chat:Broker:PingInterval</c>), in 50 slices swept one per tick as the server's are, and drops
/// a socket silent for 20 s (its <c>SilenceTimeout</c>). An interval of zero turns it off.
/// </summary>
public sealed class RelayHeartbeat(TimeSpan interval, TimeProvider time) : BackgroundService
{
    public const int Slices = 50;
    public static readonly TimeSpan SilenceTimeout = TimeSpan.FromSeconds(20);

    private readonly ConcurrentDictionary<RelayConnection, byte>[] slices = [.. Enumerable.Range(0, Slices).Select(_ => new ConcurrentDictionary<RelayConnection, byte>())];
    private int added;

    public bool Enabled => interval > TimeSpan.Zero;

    /// <summary>Takes a socket into the sweeps; returns its slice, for <see cref="Remove"/>.</summary>
    public int Add(RelayConnection connection)
    {
        var slice = (int)((uint)Interlocked.Increment(ref added) % Slices);
        slices[slice][connection] = 0;
        return slice;
    }

    public void Remove(RelayConnection connection, int slice) => slices[slice].TryRemove(connection, out _);

    /// <summary>Now, for a connection's last sign of life.</summary>
    public long Timestamp() => time.GetTimestamp();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval / Slices, time);
        var slice = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = time.GetTimestamp();
                foreach (var (connection, _) in slices[slice])
                {
                    if (time.GetElapsedTime(connection.LastSeen, now) > SilenceTimeout)
                    {
                        connection.Abort("silent past the silence timeout");
                    }
                    else
                    {
                        connection.SendPing();
                    }
                }

                slice = (slice + 1) % Slices;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
