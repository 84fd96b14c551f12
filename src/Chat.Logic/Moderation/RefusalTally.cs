using Chat.Logic.Housekeeping;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Chat.Logic.Moderation;

/// <summary>Every <see cref="Interval"/>, hands this node's refusals to the cluster's count of the last hour (the operator's "refusals by kind").</summary>
internal sealed partial class RefusalTally(ModerationDesk desk, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<RefusalTally> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (await lifetime.WhenStartedAsync(stoppingToken))
        {
            await time.EveryAsync(Interval, desk.TallyAsync, ex => Log.Failed(logger, ex), stoppingToken);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "The refusals could not be tallied; the next tick tries again.")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}
