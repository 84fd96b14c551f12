using Chat.Logic.Accounts;
using Chat.Logic.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Housekeeping;

/// <summary>
/// The cluster's housekeeping, one sweep at a time: grace periods that ran out (as the store
/// records them), and the brokers that hold accounts' sockets: a broker that has not answered for
/// <see cref="LogicOptions.BrokerDeadAfter"/> is gone, and its accounts are dropped as if each
/// socket had been lost (their grace periods start; their clients resume on another broker).
/// </summary>
internal sealed partial class HousekeeperGrain(
    ChatGrains grains,
    IChatStore store,
    StoreWriter writer,
    IBrokerProbe brokers,
    IOptions<LogicOptions> options,
    TimeProvider time,
    ILogger<HousekeeperGrain> logger) : Grain, IHousekeeperGrain
{
    private readonly LogicOptions _options = options.Value;
    private readonly Dictionary<string, long> _silentSince = [];
    private long _sweptAt;
    private long _brokersCheckedAt;

    public async Task Sweep()
    {
        var now = time.GetTimestamp();
        if (_sweptAt != 0 && time.GetElapsedTime(_sweptAt, now) < _options.SweepInterval / 2)
        {
            return; // another node asked a moment ago
        }

        _sweptAt = now;
        var awaySince = (time.GetUtcNow() - _options.GracePeriod).ToUnixTimeMilliseconds();
        var expired = await store.FindAwaySinceAsync(awaySince, _options.SweepLimit, CancellationToken.None);
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

        if (_brokersCheckedAt == 0 || time.GetElapsedTime(_brokersCheckedAt, now) >= _options.BrokerCheckInterval)
        {
            _brokersCheckedAt = now;
            await CheckBrokersAsync(now);
        }
    }

    private async Task CheckBrokersAsync(long now)
    {
        var known = await store.FindBrokersAsync(CancellationToken.None);
        var answers = await Task.WhenAll(known.Select(async broker => (Broker: broker, Alive: await AnswersAsync(broker))));
        foreach (var silent in _silentSince.Keys.Except(known).ToList())
        {
            _silentSince.Remove(silent); // nobody is bound to it any more
        }

        foreach (var (broker, alive) in answers)
        {
            if (alive)
            {
                _silentSince.Remove(broker);
                continue;
            }

            if (!_silentSince.TryGetValue(broker, out var since))
            {
                _silentSince[broker] = now;
                continue;
            }

            if (time.GetElapsedTime(since, now) >= _options.BrokerDeadAfter)
            {
                Log.BrokerGone(logger, broker, _options.BrokerDeadAfter);
                await writer.WriteAsync(new StoreWrite.BrokerGone(broker, time.GetUtcNow().ToUnixTimeMilliseconds()));
                await grains.EveryMatchmaker(shard => shard.Prune());
                _silentSince.Remove(broker);
            }
        }
    }

    /// <summary>Whether the broker answers; a check that fails in any way is a silent broker, never the end of every other broker's check.</summary>
    private async Task<bool> AnswersAsync(string broker)
    {
        try
        {
            return await brokers.IsReachableAsync(broker, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.CheckFailed(logger, broker, ex);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Checking broker {Broker} failed; it counts as silent.")]
        public static partial void CheckFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Broker {Broker} has not answered for {DeadAfter}: its accounts are dropped, their grace periods start.")]
        public static partial void BrokerGone(ILogger logger, string broker, TimeSpan deadAfter);

        [LoggerMessage(1, LogLevel.Warning, "Ending the sessions of account {AccountId} after its grace period failed.")]
        public static partial void ExpireFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
