using Chat.Logic.Housekeeping;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Matching;

/// <summary>
/// This node's timer for the matchmaker shards: every <see cref="MatchingOptions.SweepInterval"/> it
/// asks each shard to sweep (fallbacks that fell due, offers to the other shards). Every node asks
/// every shard, so a shard keeps sweeping while any node lives (one sweep at a time; one that finds nothing to do is a short turn).
/// </summary>
internal sealed partial class MatchSweeper(
    ChatGrains grains,
    IOptions<MatchingOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<MatchSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken))
        {
            return;
        }

        // Not while the node stops: a sweep's calls between shards would hold up their deactivation.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime.ApplicationStopping);
        await time.EveryAsync(options.Value.SweepInterval, () => grains.EveryMatchmaker(shard => shard.Sweep()), ex => Log.SweepFailed(logger, ex), stopping.Token);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A matchmaker sweep failed; it runs again on the next tick.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
