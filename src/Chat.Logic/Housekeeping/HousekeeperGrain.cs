using Chat.Logic.Accounts;
using Chat.Logic.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Housekeeping;

/// <summary>
/// The cluster's housekeeping, one sweep at a time: grace periods that ran out (as the store
/// records them), and the brokers that hold accounts' sockets. A broker that has not answered for
/// <see cref="LogicOptions.BrokerDeadAfter"/> is taken for gone, and its accounts are away (their grace
/// periods start, their partners are told, their clients may resume on another broker) but keep their
/// binding: logic cannot tell a dead broker from one cut off from it. If the broker answers again with the
/// same incarnation (the sockets it held are still open), its accounts that were not resumed elsewhere are
/// reclaimed: back on their sockets, with what they missed replayed. One that stays silent for
/// <see cref="LogicOptions.BrokerForgetAfter"/> has its bindings released for good (it is checked no more);
/// a broker that restarted releases its old sockets when it says so (<see cref="StoreWrite.BrokerGone"/>).
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

    // When each broker last answered a check: its silence is counted from there, not from the first check it failed.
    private readonly Dictionary<string, long> _answeredAt = [];

    // Brokers taken for gone, and when, whose accounts a return reclaims (lost with the activation: a broker taken
    // for gone by an earlier one is taken for gone again after its silence, which finds its accounts away already).
    private readonly Dictionary<string, long> _takenForGone = [];
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
        var answers = await Task.WhenAll(known.Select(async broker => (Broker: broker, Incarnation: await AnswersAsync(broker))));
        var answeredBy = time.GetTimestamp(); // every answer is in (or timed out) by now
        foreach (var silent in _silentSince.Keys.Concat(_takenForGone.Keys).Concat(_answeredAt.Keys).Except(known).ToList())
        {
            _silentSince.Remove(silent); // nobody is bound to it any more
            _takenForGone.Remove(silent);
            _answeredAt.Remove(silent);
        }

        foreach (var (broker, incarnation) in answers)
        {
            if (incarnation is { } back)
            {
                _answeredAt[broker] = answeredBy;
                _silentSince.Remove(broker);
                if (_takenForGone.Remove(broker))
                {
                    Log.BrokerBack(logger, broker);
                    await ForEachAccountAsync(broker, account => account.Reclaim(broker, back));
                }

                continue;
            }

            if (_takenForGone.TryGetValue(broker, out var gone))
            {
                if (time.GetElapsedTime(gone, now) >= _options.BrokerForgetAfter)
                {
                    // Silent all this while: dead, not cut off. Its bindings go, and it is checked no more.
                    Log.BrokerForgotten(logger, broker, _options.BrokerForgetAfter);
                    await writer.WriteAsync(new StoreWrite.BrokerGone(broker, time.GetUtcNow().ToUnixTimeMilliseconds()));
                    await grains.EveryMatchmaker(shard => shard.Prune());
                    _takenForGone.Remove(broker);
                }

                continue;
            }

            if (!_silentSince.TryGetValue(broker, out var since))
            {
                // Silent since its last answer: a cut just after a check is BrokerDeadAfter from that answer, not
                // a check interval and a check's timeout later. A broker not yet heard from is silent from now.
                since = _answeredAt.GetValueOrDefault(broker, now);
                _silentSince[broker] = since;
            }

            if (time.GetElapsedTime(since, answeredBy) >= _options.BrokerDeadAfter)
            {
                Log.BrokerGone(logger, broker, _options.BrokerDeadAfter);
                var at = time.GetUtcNow().ToUnixTimeMilliseconds();
                await ForEachAccountAsync(broker, account => account.BrokerSilent(broker, at));
                _silentSince.Remove(broker);
                _answeredAt.Remove(broker);
                _takenForGone[broker] = now;
            }
        }
    }

    private async Task ForEachAccountAsync(string broker, Func<IAccountGrain, Task> act)
    {
        foreach (var accountId in await store.FindOnBrokerAsync(broker, int.MaxValue, CancellationToken.None))
        {
            try
            {
                await act(grains.Account(accountId));
            }
            catch (Exception ex)
            {
                Log.AccountFailed(logger, accountId, broker, ex); // the next verdict on the broker tries again
            }
        }
    }

    /// <summary>The broker's incarnation if it answers; a check that fails in any way is a silent broker, never the end of every other broker's check.</summary>
    private async Task<long?> AnswersAsync(string broker)
    {
        try
        {
            return await brokers.AnswerAsync(broker, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.CheckFailed(logger, broker, ex);
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Checking broker {Broker} failed; it counts as silent.")]
        public static partial void CheckFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Broker {Broker} has not answered for {DeadAfter}: its accounts are away, their grace periods start.")]
        public static partial void BrokerGone(ILogger logger, string broker, TimeSpan deadAfter);

        [LoggerMessage(4, LogLevel.Warning, "Broker {Broker} answers again: its accounts not resumed elsewhere are reclaimed.")]
        public static partial void BrokerBack(ILogger logger, string broker);

        [LoggerMessage(6, LogLevel.Warning, "Broker {Broker} has been silent for {ForgetAfter} since it was taken for gone: its accounts are released.")]
        public static partial void BrokerForgotten(ILogger logger, string broker, TimeSpan forgetAfter);

        [LoggerMessage(5, LogLevel.Warning, "Account {AccountId} of broker {Broker} could not be made away or reclaimed.")]
        public static partial void AccountFailed(ILogger logger, ulong accountId, string broker, Exception exception);

        [LoggerMessage(1, LogLevel.Warning, "Ending the sessions of account {AccountId} after its grace period failed.")]
        public static partial void ExpireFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
