using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Housekeeping;

/// <summary>This node's timer for the cluster's housekeeping: every sweep interval it asks the housekeeper grain to sweep.</summary>
internal sealed partial class LogicSweeper(
    ChatGrains grains,
    IOptions<LogicOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<LogicSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not before the node has started: until its silo has joined the cluster there is nowhere to put the housekeeper.
        if (!await lifetime.WhenStartedAsync(stoppingToken))
        {
            return;
        }

        await time.EveryAsync(options.Value.SweepInterval, () => grains.Housekeeper.Sweep(), ex => Log.SweepFailed(logger, ex), stoppingToken);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Logic housekeeping failed; it runs again on the next tick.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
