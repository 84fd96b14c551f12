using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Chat.Logic.Diagnostics;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;

namespace Chat.Logic.Abuse;

/// <summary>
/// The per-address limits as this logic node applies them: finds an address's shard, checks a
/// challenge's answer (needs no state), asks the shard, and turns its verdict into the refusal the
/// client is given. A shard that does not answer within <see cref="LimitOptions.CheckTimeout"/> (its
/// node died, the cluster is busy) lets the request through: a log line and
/// <c>chat_abuse_unchecked_total</c> say so, and nobody is locked out because a count is unreachable.
/// </summary>
internal sealed partial class Admissions(
    IGrainFactory grains,
    AddressRules rules,
    Altcha altcha,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<Admissions> logger)
{
    /// <summary>How many address shards the cluster has; the same on every node (an address's shard is a hash of it).</summary>
    public const int Shards = 64;

    private readonly LimitOptions _options = rules.Options;

    public bool TracksAddresses => _options.AnyAddressLimit;

    public ValueTask<Admission> AdmitSocketAsync(string address, string broker) =>
        _options.SocketsPerAddress <= 0
            ? ValueTask.FromResult(Admission.Admitted)
            : CountAsync(address, Refusal.Sockets, shard => shard.OpenSocket(address, broker), limit => $"too many connections from your address (at most {limit} at once)");

    public async ValueTask SocketClosedAsync(string address, string broker)
    {
        if (_options.SocketsPerAddress <= 0)
        {
            return;
        }

        try
        {
            await Shard(address).CloseSocket(address, broker).WaitAsync(_options.CheckTimeout, time);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.CloseNotCounted(logger, ex); // the broker's next report sets the count right
        }
    }

    public async ValueTask ReportSocketsAsync(string broker, IReadOnlyList<HeldSockets> held)
    {
        if (_options.SocketsPerAddress <= 0 || held.Count == 0)
        {
            return;
        }

        var byShard = held.GroupBy(h => ShardOf(h.Address), h => new AddressCount(h.Address, h.Count));
        try
        {
            await Task.WhenAll(byShard.Select(shard => grains.GetGrain<IAddressShardGrain>(shard.Key).HoldSockets(broker, [.. shard])))
                .WaitAsync(_options.CheckTimeout, time);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.ReportNotCounted(logger, broker, ex); // the next report tries again
        }
    }

    /// <summary>A broker (re)started: the sockets every shard counted for it are gone.</summary>
    public async ValueTask BrokerStartedAsync(string broker)
    {
        if (_options.SocketsPerAddress <= 0)
        {
            return;
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, Shards).Select(shard => grains.GetGrain<IAddressShardGrain>(shard).ForgetBroker(broker)))
                .WaitAsync(_options.CheckTimeout, time);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.ReportNotCounted(logger, broker, ex); // its counts run out by themselves
        }
    }

    public async ValueTask<Admission> AdmitAccountAsync(string address, string? payload)
    {
        if (_options.AccountsPerMinute <= 0 && _options.Challenge.AfterAccounts <= 0 && !_options.Challenge.Always)
        {
            return Admission.Admitted;
        }

        SolvedChallenge solved = default;
        var check = payload is null ? (Altcha.Verdict?)null : altcha.Verify(payload, address, out solved);
        AddressVerdict verdict;
        try
        {
            verdict = await Shard(address).AdmitAccount(address, check == Altcha.Verdict.Solved ? solved : null).WaitAsync(_options.CheckTimeout, time);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Unchecked(Refusal.Accounts, ex);
            return Admission.Admitted;
        }

        switch (verdict.Is)
        {
            case AddressVerdict.Kind.RateLimited:
                metrics.Refused(Refusal.Accounts);
                return new Admission(ResultCode.RateLimited, $"too many new accounts from your address (at most {verdict.Limit} at once); try again later", verdict.RetryAfter);
            case AddressVerdict.Kind.ChallengeRequired or AddressVerdict.Kind.ChallengeSpent:
                var failed = verdict.Is == AddressVerdict.Kind.ChallengeSpent ? "it was used before" : check is { } refused ? Why(refused) : null;
                return Challenge(address, failed, "create an account");
            default:
                return Admission.Admitted;
        }
    }

    /// <summary>Whether a report may be filed from <paramref name="address"/> (one is counted if so).</summary>
    public ValueTask<Admission> AdmitReportAsync(string address) =>
        _options.ReportsPerHour <= 0
            ? ValueTask.FromResult(Admission.Admitted)
            : CountAsync(address, Refusal.Reports, shard => shard.FileReport(address), limit => $"too many reports from your address (at most {limit} an hour); try again later");

    /// <summary>
    /// Before a reconnect from <paramref name="address"/> looks its account up: refused (code 5) once
    /// the address has spent its failed reconnects, so guessing costs the store nothing past them.
    /// </summary>
    public ValueTask<Admission> AdmitReconnectAsync(string address) =>
        _options.FailedReconnectsPerMinute <= 0
            ? ValueTask.FromResult(Admission.Admitted)
            : CountAsync(address, Refusal.Reconnects, shard => shard.MayReconnect(address), limit => $"too many reconnects from your address named no account or the wrong token (at most {limit} at once); try again later");

    /// <summary>A reconnect from <paramref name="address"/> named no account or the wrong token: counted (one-way; a lost count only loosens the limit).</summary>
    public void ReconnectFailed(string address)
    {
        if (_options.FailedReconnectsPerMinute > 0)
        {
            Shard(address).ReconnectFailed(address).Ignore();
        }
    }

    /// <summary>
    /// The client's solution of a challenge that is not about an account (a match): checked and
    /// spent (once, in the whole cluster). Null if it solved one, else why not.
    /// </summary>
    public async ValueTask<string?> SpendAsync(string address, string payload)
    {
        var check = altcha.Verify(payload, address, out var solved);
        if (check != Altcha.Verdict.Solved)
        {
            return Why(check);
        }

        try
        {
            return await Shard(address).Spend(address, solved).WaitAsync(_options.CheckTimeout, time) ? null : "it was used before";
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Unchecked(Refusal.Challenge, ex);
            return null;
        }
    }

    /// <summary>A challenge for <paramref name="address"/>, refused for <paramref name="failed"/> (the reason an earlier solution was not accepted) or none.</summary>
    public Admission Challenge(string address, string? failed, string what)
    {
        metrics.Refused(failed is null ? Refusal.Challenge : Refusal.ChallengeFailed);
        if (failed is not null)
        {
            Log.ChallengeFailed(logger, failed);
        }

        return new Admission(
            ResultCode.ChallengeRequired,
            failed is null ? $"solve the challenge to {what}" : $"the challenge's solution was not accepted ({failed}); solve this one",
            Challenge: altcha.Create(address));
    }

    /// <summary>The shard of an address: the same on every node (SHA-256, not the process's randomised string hash).</summary>
    public static int ShardOf(string address)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(address), hash);
        return (int)(BinaryPrimitives.ReadUInt32LittleEndian(hash) % Shards);
    }

    /// <summary>Asks every shard to forget the addresses that went quiet; how many are tracked in all.</summary>
    public async Task<int> SweepAsync()
    {
        var tracked = await Task.WhenAll(Enumerable.Range(0, Shards).Select(shard => grains.GetGrain<IAddressShardGrain>(shard).Sweep()));
        return tracked.Sum();
    }

    /// <summary>Asks the address's shard to count one of <paramref name="kind"/>: admitted, refused (code 5, <paramref name="refusal"/> of the limit), or admitted unchecked when the shard does not answer.</summary>
    private async ValueTask<Admission> CountAsync(string address, string kind, Func<IAddressShardGrain, Task<AddressVerdict>> ask, Func<long, string> refusal)
    {
        try
        {
            var verdict = await ask(Shard(address)).WaitAsync(_options.CheckTimeout, time);
            if (verdict.Is == AddressVerdict.Kind.Admitted)
            {
                return Admission.Admitted;
            }

            metrics.Refused(kind);
            return new Admission(ResultCode.RateLimited, refusal(verdict.Limit), verdict.RetryAfter);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Unchecked(kind, ex);
            return Admission.Admitted;
        }
    }

    private IAddressShardGrain Shard(string address) => grains.GetGrain<IAddressShardGrain>(ShardOf(address));

    private static string Why(Altcha.Verdict check) => check switch
    {
        Altcha.Verdict.Expired => "it has expired",
        Altcha.Verdict.Forged => "it does not solve a challenge of ours",
        Altcha.Verdict.OtherAddress => "it was made for another address",
        _ => "it is not a solution in the ALTCHA format",
    };

    private void Unchecked(string kind, Exception ex)
    {
        metrics.Unchecked(kind);
        Log.Unchecked(logger, kind, ex);
    }

    private static bool IsUnavailable(Exception ex) => ex is OrleansException or TimeoutException or OperationCanceledException;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The {Kind} limit could not be checked (its address shard did not answer): the request goes ahead unchecked.")]
        public static partial void Unchecked(ILogger logger, string kind, Exception exception);

        [LoggerMessage(2, LogLevel.Debug, "A closed socket could not be counted; the broker's next report corrects the count.")]
        public static partial void CloseNotCounted(ILogger logger, Exception exception);

        [LoggerMessage(3, LogLevel.Warning, "The sockets of broker {Broker} could not be counted; its next report tries again.")]
        public static partial void ReportNotCounted(ILogger logger, string broker, Exception exception);

        [LoggerMessage(4, LogLevel.Debug, "A challenge's solution was refused: {Why}.")]
        public static partial void ChallengeFailed(ILogger logger, string why);
    }
}

/// <summary>The <c>kind</c> of <c>chat_abuse_refusals_total</c> and <c>chat_abuse_unchecked_total</c>.</summary>
internal static class Refusal
{
    public const string Sockets = "sockets";
    public const string Accounts = "accounts";
    public const string Waiting = "waiting";
    public const string Matches = "matches";

    /// <summary>Code 5 to a REPORT_REQ: the address filed its reports of the hour.</summary>
    public const string Reports = "reports";

    /// <summary>Code 5 to a RECONNECT_REQ from an address whose reconnects named no account or the wrong token too often.</summary>
    public const string Reconnects = "reconnects";

    /// <summary>Code 6 to a MATCH_REQ from an address that was reported lately.</summary>
    public const string Reported = "reported";

    /// <summary>Code 7: a banned visitor's request or socket.</summary>
    public const string Banned = "banned";

    /// <summary>Code 6 to a request without a solution: the challenge was demanded.</summary>
    public const string Challenge = "challenge";

    /// <summary>Code 6 to a request whose solution was forged, expired, for another address or used before.</summary>
    public const string ChallengeFailed = "challenge_failed";
}
