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
    private const int AccountsAtOnce = 64;

    private readonly LogicOptions _options = options.Value;

    // The brokers accounts are bound to, as the last read of the store listed them, each with what logic knows of it.
    private readonly Dictionary<string, BrokerWatch> _watches = new(StringComparer.Ordinal);
    private long _sweptAt;
    private long _brokersCheckedAt;

    // When the last read of the brokers that succeeded began: a broker it did not list was bound after that.
    private long _brokersReadAt;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _brokersReadAt = time.GetTimestamp(); // this activation has learned of no broker yet
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Checks and decisions under way finish (a check within BrokerCheckTimeout); the timers go with the activation.
        await Task.WhenAll(_watches.Values.SelectMany(w => new[] { w.Check, w.Deciding }));
    }

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
            await CheckBrokersAsync();
        }
    }

    /// <summary>
    /// Reads which brokers accounts are bound to and asks each whether it is alive. The answers are not waited
    /// for here: each is taken when it comes, and the verdict on a silent broker is its deadline timer's (see <see cref="Arm"/>).
    /// </summary>
    private async Task CheckBrokersAsync()
    {
        var readAt = time.GetTimestamp();
        var known = await store.FindBrokersAsync(CancellationToken.None);

        // A broker this read lists for the first time was bound after the last read began: logic has known of it since
        // then at the latest, and its silence counts from there (never further back than the longest gap between two
        // reads, so a read after a store outage does not find a broker silent for the outage's length).
        var learnedAt = Math.Max(_brokersReadAt, readAt - Ticks(_options.BrokerCheckInterval + _options.SweepInterval));
        foreach (var unbound in _watches.Keys.Except(known, StringComparer.Ordinal).ToList())
        {
            _watches[unbound].Deadline?.Dispose(); // nobody is bound to it any more
            _watches.Remove(unbound);
        }

        foreach (var broker in known)
        {
            if (!_watches.TryGetValue(broker, out var watch))
            {
                watch = new BrokerWatch(broker, learnedAt);
                _watches.Add(broker, watch);
                Arm(watch);
            }

            StartCheck(watch);
        }

        _brokersReadAt = readAt;
    }

    private void StartCheck(BrokerWatch watch)
    {
        if (watch.Check.IsCompleted)
        {
            watch.AskedAt = time.GetTimestamp();
            watch.Check = CheckAsync(watch); // owned by the watch: the next check, and the deactivation, wait for it
        }
    }

    /// <summary>One check of the broker, and what its answer (or its silence) decides.</summary>
    private async Task CheckAsync(BrokerWatch watch)
    {
        var incarnation = await AnswersAsync(watch.Broker);
        var at = time.GetTimestamp();
        if (!IsWatched(watch))
        {
            return; // nobody is bound to it any more
        }

        if (incarnation is { } back)
        {
            watch.HeardAt = at; // its silence, if it falls silent now, counts from this answer
            watch.Answered = true;
            Arm(watch);
            if (watch.GoneAt is not null)
            {
                watch.GoneAt = null;
                Log.BrokerBack(logger, watch.Broker);
                await DecideAsync(watch, () => ForEachAccountAsync(watch.Broker, account => account.Reclaim(watch.Broker, back)));
            }
        }
        else if (watch.GoneAt is null)
        {
            // Silent past the deadline, which found no check unanswered then (the clock had jumped) and asked this one.
            var silentFor = time.GetElapsedTime(watch.HeardAt, at);
            if (silentFor >= _options.BrokerDeadAfter)
            {
                await TakeForGoneAsync(watch, silentFor);
            }
        }
        else if (watch.GoneAt is { } gone && time.GetElapsedTime(gone, at) >= _options.BrokerForgetAfter && !watch.Forgetting)
        {
            // Silent all this while: dead, not cut off. Its bindings go, and it is checked no more.
            watch.Forgetting = true;
            Log.BrokerForgotten(logger, watch.Broker, _options.BrokerForgetAfter);
            await DecideAsync(watch, async () =>
            {
                try
                {
                    await writer.WriteAsync(new StoreWrite.BrokerGone(watch.Broker, time.GetUtcNow().ToUnixTimeMilliseconds()));
                    await grains.EveryMatchmaker(shard => shard.Prune());
                    if (IsWatched(watch))
                    {
                        watch.Deadline?.Dispose();
                        _watches.Remove(watch.Broker);
                    }
                }
                finally
                {
                    watch.Forgetting = false; // failed: the next silent check tries again
                }
            });
        }
    }

    /// <summary>
    /// Sets the broker's deadline timer by its silence so far: one last check is started
    /// <see cref="LogicOptions.BrokerCheckTimeout"/> before the deadline, so that it has had its full time when the
    /// deadline comes; at <see cref="LogicOptions.BrokerDeadAfter"/> of silence the broker is taken for gone, then and there.
    /// </summary>
    private void Arm(BrokerWatch watch)
    {
        var silentFor = time.GetElapsedTime(watch.HeardAt);
        var lastCheckIn = _options.BrokerDeadAfter - _options.BrokerCheckTimeout - silentFor;
        var due = lastCheckIn > TimeSpan.Zero ? lastCheckIn : _options.BrokerDeadAfter - silentFor;
        due = due > TimeSpan.Zero ? due : TimeSpan.Zero;
        if (watch.Deadline is { } deadline)
        {
            deadline.Change(due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            // Interleaved: a sweep or a check under way does not hold the verdict back.
            watch.Deadline = this.RegisterGrainTimer(OnDeadline, watch, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { Interleave = true });
        }
    }

    private Task OnDeadline(BrokerWatch watch, CancellationToken cancellationToken)
    {
        if (!IsWatched(watch) || watch.GoneAt is not null)
        {
            return Task.CompletedTask;
        }

        var silentFor = time.GetElapsedTime(watch.HeardAt);
        if (silentFor < _options.BrokerDeadAfter)
        {
            if (silentFor >= _options.BrokerDeadAfter - _options.BrokerCheckTimeout)
            {
                StartCheck(watch); // the last check before the deadline
            }

            Arm(watch); // on to the deadline (or an answer moved it)
            return Task.CompletedTask;
        }

        if (watch.AskedAt <= watch.HeardAt)
        {
            // Silent by the clock alone: no check has gone unanswered since its last answer (this node was paused, or
            // its clock jumped). It is asked now, and taken for gone only if it does not answer.
            StartCheck(watch);
            return Task.CompletedTask;
        }

        return TakeForGoneAsync(watch, silentFor);
    }

    private Task TakeForGoneAsync(BrokerWatch watch, TimeSpan silentFor)
    {
        watch.GoneAt = time.GetTimestamp();
        Log.BrokerGone(logger, watch.Broker, silentFor, watch.Answered ? "its last answer" : "logic learned of it");
        var at = time.GetUtcNow().ToUnixTimeMilliseconds();
        return DecideAsync(watch, async () =>
        {
            try
            {
                await ForEachAccountAsync(watch.Broker, account => account.BrokerSilent(watch.Broker, at));
            }
            catch when (IsWatched(watch) && watch.GoneAt is not null)
            {
                // The accounts could not be listed (the store): not taken for gone yet; the verdict is tried again a check interval on.
                watch.GoneAt = null;
                watch.Deadline?.Change(_options.BrokerCheckInterval, Timeout.InfiniteTimeSpan);
                throw;
            }
        });
    }

    /// <summary>Runs a decision on the broker (taken for gone, reclaimed, forgotten) after the ones before it, so a return just after the verdict reclaims what the verdict made away.</summary>
    private Task DecideAsync(BrokerWatch watch, Func<Task> decision)
    {
        watch.Deciding = AfterAsync(watch.Deciding);
        return watch.Deciding;

        async Task AfterAsync(Task before)
        {
            await before; // never faults: each decision reports its own failure
            try
            {
                await decision();
            }
            catch (Exception ex)
            {
                Log.DecisionFailed(logger, watch.Broker, ex);
            }
        }
    }

    private bool IsWatched(BrokerWatch watch) => _watches.TryGetValue(watch.Broker, out var current) && current == watch;

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    /// <summary>The broker's accounts, a few at a time, so that a broker with many visitors has them all away (or back) soon.</summary>
    private async Task ForEachAccountAsync(string broker, Func<IAccountGrain, Task> act)
    {
        foreach (var batch in (await store.FindOnBrokerAsync(broker, int.MaxValue, CancellationToken.None)).Chunk(AccountsAtOnce))
        {
            await Task.WhenAll(batch.Select(async accountId =>
            {
                try
                {
                    await act(grains.Account(accountId));
                }
                catch (Exception ex)
                {
                    Log.AccountFailed(logger, accountId, broker, ex); // the next verdict on the broker tries again
                }
            }));
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

    /// <summary>What the housekeeper knows of one broker accounts are bound to.</summary>
    private sealed class BrokerWatch(string broker, long heardAt)
    {
        public string Broker { get; } = broker;

        /// <summary>When it last answered a check; until it has, when logic learned of it (its first binding, as the store's reads show it).</summary>
        public long HeardAt { get; set; } = heardAt;

        /// <summary>When the last check of it was asked: after <see cref="HeardAt"/>, that check has not answered (yet).</summary>
        public long AskedAt { get; set; }

        /// <summary>Whether it has answered a check yet.</summary>
        public bool Answered { get; set; }

        /// <summary>When it was taken for gone, if it is: its accounts are away, a return reclaims them.</summary>
        public long? GoneAt { get; set; }

        public bool Forgetting { get; set; }

        /// <summary>The check under way, or the last one.</summary>
        public Task Check { get; set; } = Task.CompletedTask;

        /// <summary>The last decision on it, the next one's turn after it.</summary>
        public Task Deciding { get; set; } = Task.CompletedTask;

        /// <summary>Fires at the last check before the deadline, then at the deadline.</summary>
        public IGrainTimer? Deadline { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Checking broker {Broker} failed; it counts as silent.")]
        public static partial void CheckFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Broker {Broker} has not answered for {SilentFor}, since {Since}: its accounts are away, their grace periods start.")]
        public static partial void BrokerGone(ILogger logger, string broker, TimeSpan silentFor, string since);

        [LoggerMessage(4, LogLevel.Warning, "Broker {Broker} answers again: its accounts not resumed elsewhere are reclaimed.")]
        public static partial void BrokerBack(ILogger logger, string broker);

        [LoggerMessage(6, LogLevel.Warning, "Broker {Broker} has been silent for {ForgetAfter} since it was taken for gone: its accounts are released.")]
        public static partial void BrokerForgotten(ILogger logger, string broker, TimeSpan forgetAfter);

        [LoggerMessage(5, LogLevel.Warning, "Account {AccountId} of broker {Broker} could not be made away or reclaimed.")]
        public static partial void AccountFailed(ILogger logger, ulong accountId, string broker, Exception exception);

        [LoggerMessage(7, LogLevel.Warning, "A decision on broker {Broker} failed; its next check or deadline tries again.")]
        public static partial void DecisionFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(1, LogLevel.Warning, "Ending the sessions of account {AccountId} after its grace period failed.")]
        public static partial void ExpireFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
