using Chat.Logic.Accounts;
using Chat.Logic.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Housekeeping;

internal sealed partial class HousekeeperGrain(ChatGrains grains, IChatStore store, IOptions<LogicOptions> options, TimeProvider time, ILogger<HousekeeperGrain> logger) : Grain, IHousekeeperGrain
{
    /// <summary>Accounts handled per sweep: a backlog (after downtime) drains over a few sweeps instead of one long one.</summary>
    private const int SweepLimit = 1000;

    private readonly LogicOptions _options = options.Value;
    private long _sweptAt;

    public async Task Sweep()
    {
        var now = time.GetTimestamp();
        if (_sweptAt != 0 && time.GetElapsedTime(_sweptAt, now) < _options.SweepInterval / 2)
        {
            return; // another node asked a moment ago
        }

        _sweptAt = now;
        var awaySince = (time.GetUtcNow() - _options.GracePeriod).ToUnixTimeMilliseconds();
        var expired = await store.FindAwaySinceAsync(awaySince, SweepLimit, CancellationToken.None);
        foreach (var accountId in expired)
        {
            try
            {
                await grains.Account(accountId).ExpireGrace();
            }
            catch (Exception ex)
            {
                Log.ExpireFailed(logger, accountId, ex); // still away in the store: the next sweep tries again
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Ending the sessions of account {AccountId} after its grace period failed.")]
        public static partial void ExpireFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
