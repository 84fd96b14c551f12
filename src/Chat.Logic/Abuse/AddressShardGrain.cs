using Chat.Logic.Diagnostics;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Abuse;

/// <summary>
/// The addresses of one shard, in memory: a limit's count is a moment's business (a minute of new
/// accounts, the sockets open now), so a shard that moves to another node after a crash starts
/// afresh, its brokers' next reports bring the socket counts back, and a limit is briefly looser,
/// never stricter. Every call is a short synchronous turn.
/// </summary>
internal sealed class AddressShardGrain(AddressRules rules, LogicMetrics metrics, TimeProvider time) : Grain, IAddressShardGrain
{
    private readonly Dictionary<string, AddressRecord> _addresses = new(StringComparer.Ordinal);
    private readonly LimitOptions _options = rules.Options;

    /// <summary>How long a visitor's place in its address's count of visitors waiting lasts without a new MATCH_REQ (one a lost node never released then stops counting).</summary>
    public static readonly TimeSpan WaitingHoldLifetime = TimeSpan.FromMinutes(10);

    // Per address: the accounts waiting from it, and since when each holds its place.
    private readonly Dictionary<string, Dictionary<ulong, long>> _waiting = new(StringComparer.Ordinal);

    public Task<bool> HoldWaiting(string address, ulong accountId, long limit)
    {
        var now = Now;
        if (!_waiting.TryGetValue(address, out var holds))
        {
            _waiting[address] = holds = [];
        }

        if (!holds.ContainsKey(accountId))
        {
            foreach (var (held, since) in holds)
            {
                if (now - since > (long)WaitingHoldLifetime.TotalMilliseconds)
                {
                    holds.Remove(held);
                }
            }

            if (holds.Count >= limit)
            {
                return Task.FromResult(false);
            }
        }

        holds[accountId] = now;
        return Task.FromResult(true);
    }

    public Task ReleaseWaiting(string address, ulong accountId)
    {
        if (_waiting.TryGetValue(address, out var holds) && holds.Remove(accountId) && holds.Count == 0)
        {
            _waiting.Remove(address);
        }

        return Task.CompletedTask;
    }

    public Task<AddressVerdict> OpenSocket(string address, string broker)
    {
        var limits = rules.For(address);
        var now = Now;
        var record = Record(address);
        if (limits.Sockets > 0 && record.OpenSockets(FreshSince(now)) >= limits.Sockets)
        {
            return Task.FromResult(new AddressVerdict(AddressVerdict.Kind.RateLimited, (int)Math.Ceiling(_options.SocketReportInterval.TotalSeconds), limits.Sockets));
        }

        record.SocketOpened(broker, now);
        return Task.FromResult(AddressVerdict.Admitted);
    }

    public Task CloseSocket(string address, string broker)
    {
        if (_addresses.TryGetValue(address, out var record))
        {
            var now = Now;
            record.SocketClosed(broker, now);
            ForgetIfQuiet(address, record, now);
        }

        return Task.CompletedTask;
    }

    public Task HoldSockets(string broker, IReadOnlyList<AddressCount> held)
    {
        var now = Now;
        foreach (var (address, count) in held)
        {
            Record(address).SocketsHeld(broker, count, now);
        }

        return Task.CompletedTask;
    }

    public Task ForgetBroker(string broker)
    {
        foreach (var record in _addresses.Values)
        {
            record.SocketsHeld(broker, 0, Now);
        }

        return Sweep();
    }

    public Task<AddressVerdict> AdmitAccount(string address, SolvedChallenge? solved)
    {
        var limits = rules.For(address);
        var now = Now;
        var record = Record(address);
        if (limits.AccountsPerMinute > 0 && !record.Accounts.CanTake(now, limits.AccountsPerMinute, limits.AccountsBurst))
        {
            return Task.FromResult(new AddressVerdict(
                AddressVerdict.Kind.RateLimited,
                record.Accounts.SecondsUntilOne(now, limits.AccountsPerMinute, limits.AccountsBurst),
                (long)limits.AccountsBurst));
        }

        var challenged = limits.AlwaysChallenge || (limits.ChallengeAfter > 0 && !record.Unchallenged.CanTake(now, limits.ChallengeAfter, limits.ChallengeAfter));
        if (challenged)
        {
            if (solved is not { } answer)
            {
                ForgetIfQuiet(address, record, now);
                return Task.FromResult(new AddressVerdict(AddressVerdict.Kind.ChallengeRequired));
            }

            if (record.IsSpent(answer.Id))
            {
                return Task.FromResult(new AddressVerdict(AddressVerdict.Kind.ChallengeSpent));
            }

            record.Spend(answer);
        }
        else if (limits.ChallengeAfter > 0)
        {
            record.Unchallenged.Take(now, limits.ChallengeAfter, limits.ChallengeAfter);
        }

        if (limits.AccountsPerMinute > 0)
        {
            record.Accounts.Take(now, limits.AccountsPerMinute, limits.AccountsBurst);
        }

        ForgetIfQuiet(address, record, now);
        return Task.FromResult(AddressVerdict.Admitted);
    }

    public Task<AddressVerdict> FileReport(string address)
    {
        var limits = rules.For(address);
        var now = Now;
        var record = Record(address);
        var perMinute = limits.ReportsPerHour / 60;
        var verdict = limits.ReportsPerHour <= 0 || record.Reports.TryTake(now, perMinute, limits.ReportsPerHour)
            ? AddressVerdict.Admitted
            : new AddressVerdict(AddressVerdict.Kind.RateLimited, record.Reports.SecondsUntilOne(now, perMinute, limits.ReportsPerHour), (long)limits.ReportsPerHour);
        ForgetIfQuiet(address, record, now);
        return Task.FromResult(verdict);
    }

    public Task<AddressVerdict> MayReconnect(string address)
    {
        var limits = rules.For(address);
        if (limits.FailedReconnectsPerMinute <= 0 || !_addresses.TryGetValue(address, out var record))
        {
            return Task.FromResult(AddressVerdict.Admitted); // nothing failed lately: not even a record to look at
        }

        var now = Now;
        return Task.FromResult(record.FailedReconnects.CanTake(now, limits.FailedReconnectsPerMinute, limits.FailedReconnectsBurst)
            ? AddressVerdict.Admitted
            : new AddressVerdict(
                AddressVerdict.Kind.RateLimited,
                record.FailedReconnects.SecondsUntilOne(now, limits.FailedReconnectsPerMinute, limits.FailedReconnectsBurst),
                (long)limits.FailedReconnectsBurst));
    }

    public Task ReconnectFailed(string address)
    {
        var limits = rules.For(address);
        if (limits.FailedReconnectsPerMinute > 0)
        {
            Record(address).FailedReconnects.Take(Now, limits.FailedReconnectsPerMinute, limits.FailedReconnectsBurst);
        }

        return Task.CompletedTask;
    }

    public Task<bool> Spend(string address, SolvedChallenge solved)
    {
        var record = Record(address);
        if (record.IsSpent(solved.Id))
        {
            return Task.FromResult(false);
        }

        record.Spend(solved);
        return Task.FromResult(true);
    }

    public Task<int> Sweep()
    {
        var now = Now;
        var freshSince = FreshSince(now);
        foreach (var (address, record) in _addresses)
        {
            if (record.IsQuiet(now, freshSince, rules.For(address)))
            {
                _addresses.Remove(address);
                metrics.AddressForgotten();
            }
        }

        foreach (var (address, holds) in _waiting)
        {
            foreach (var (held, since) in holds)
            {
                if (now - since > (long)WaitingHoldLifetime.TotalMilliseconds)
                {
                    holds.Remove(held);
                }
            }

            if (holds.Count == 0)
            {
                _waiting.Remove(address);
            }
        }

        return Task.FromResult(_addresses.Count);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.AddressesForgotten(_addresses.Count);
        _addresses.Clear();
        return Task.CompletedTask;
    }

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A broker's count stands for three of its report intervals: one that stopped reporting has died.</summary>
    private long FreshSince(long now) => now - (long)(_options.SocketReportInterval.TotalMilliseconds * 3);

    private AddressRecord Record(string address)
    {
        if (!_addresses.TryGetValue(address, out var record))
        {
            record = new AddressRecord();
            _addresses[address] = record;
            metrics.AddressTracked();
        }

        return record;
    }

    /// <summary>An address whose visit left nothing to remember (a socket opened and closed, the buckets full) costs nothing from now on.</summary>
    private void ForgetIfQuiet(string address, AddressRecord record, long now)
    {
        if (record.IsQuiet(now, FreshSince(now), rules.For(address)))
        {
            _addresses.Remove(address);
            metrics.AddressForgotten();
        }
    }
}
