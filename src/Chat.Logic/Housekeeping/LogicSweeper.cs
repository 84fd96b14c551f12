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

        using var timer = new PeriodicTimer(options.Value.SweepInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await grains.Housekeeper.Sweep();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SweepFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Logic housekeeping failed; it runs again on the next tick.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
