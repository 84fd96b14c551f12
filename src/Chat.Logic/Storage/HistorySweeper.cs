using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage;

/// <summary>
/// Retention: every <see cref="StoreOptions.RetentionSweepInterval"/>, deletes what ended more than
/// <see cref="StoreOptions.Retention"/> ago (the messages and marks of ended sessions, the sessions,
/// then accounts that are gone and in no session), <see cref="BatchSize"/> rows per transaction so the
/// store writer never waits long behind it. A retention of zero keeps everything.
/// </summary>
/// <remarks>Moderation's records (reports with their evidence, bans that ended, the audit log) are swept on the same tick after their own retention, <see cref="Moderation.ModerationOptions.Retention"/>.</remarks>
internal sealed partial class HistorySweeper(
    IChatStore store,
    Moderation.IModerationStore moderation,
    IOptions<StoreOptions> options,
    IOptions<Moderation.ModerationOptions> moderationOptions,
    TimeProvider time,
    ILogger<HistorySweeper> logger) : BackgroundService
{
    /// <summary>Rows deleted per transaction: a few milliseconds of work, however much has expired.</summary>
    public const int BatchSize = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = options.Value.Retention;
        var kept = moderationOptions.Value.Retention;
        if (retention <= TimeSpan.Zero && kept <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.RetentionSweepInterval, time);
        try
        {
            do
            {
                try
                {
                    var deleted = retention > TimeSpan.Zero ? await SweepAsync(time.GetUtcNow() - retention, stoppingToken) : 0;
                    if (kept > TimeSpan.Zero)
                    {
                        deleted += await moderation.DeleteExpiredModerationAsync((time.GetUtcNow() - kept).ToUnixTimeMilliseconds(), stoppingToken);
                    }

                    if (deleted > 0)
                    {
                        Log.Swept(logger, deleted);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SweepFailed(logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Deletes everything that ended before <paramref name="before"/>, batch by batch; returns the rows deleted.</summary>
    public async Task<long> SweepAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        long total = 0;
        int deleted;
        do
        {
            deleted = await store.DeleteExpiredAsync(before.ToUnixTimeMilliseconds(), BatchSize, cancellationToken);
            total += deleted;
        }
        while (deleted == BatchSize);

        return total;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Retention deleted {Rows} rows of expired history.")]
        public static partial void Swept(ILogger logger, long rows);

        [LoggerMessage(2, LogLevel.Warning, "Retention failed; it runs again on the next tick.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
