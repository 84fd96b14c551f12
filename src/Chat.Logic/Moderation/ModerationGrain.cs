using System.Security.Cryptography;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// The book of bans and the reports' counts per address (<see cref="IModerationGrain"/>). Not
/// reentrant: each change is kept in the store before the next begins, so the version a node reads
/// always stands for what the store holds.
/// </summary>
internal sealed partial class ModerationGrain(
    IModerationStore store,
    ModerationWebhook webhook,
    IOptions<ModerationOptions> options,
    TimeProvider time,
    ILogger<ModerationGrain> logger) : Grain, IModerationGrain
{
    /// <summary>The most addresses remembered for the challenge or the auto-ban: a flood of reports costs a bounded amount.</summary>
    private const int MostAddresses = 100_000;

    /// <summary>The actor of the bans reports make.</summary>
    public const string AutoActor = "auto";

    private readonly ModerationOptions _options = options.Value;
    private readonly Dictionary<string, BanRecord> _bans = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _challenged = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(ulong Reporter, long At)>> _reports = new(StringComparer.Ordinal);
    private long _version;

    // The cluster's refusals per minute of the last hour (the minute's number since the epoch), by kind.
    private readonly Dictionary<long, Dictionary<string, long>> _refusals = [];

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var ban in await store.LoadBansAsync(Now, cancellationToken))
        {
            _bans[ban.Id] = ban;
        }

        _version = Now; // a broker that read an earlier activation's book reads this one afresh
        Log.Loaded(logger, _bans.Count);
    }

    public Task<ModerationState> Read()
    {
        var now = Now;
        Expire(now);
        return Task.FromResult(new ModerationState(_version, [.. _bans.Values], [.. _challenged.Keys]));
    }

    public async Task<BanRecord> Ban(BanTarget target, string value, TimeSpan duration, string reason, string actor)
    {
        var now = Now;
        var ban = new BanRecord(NewRef("B"), target, value, reason, now, actor, now + (long)duration.TotalMilliseconds);
        await store.AddBanAsync(ban, CancellationToken.None);
        _bans[ban.Id] = ban;
        _version++;
        await AuditAsync(new AuditEntry(now, actor, AuditActions.Ban, $"{Describe(target)} {value} until {DateTimeOffset.FromUnixTimeMilliseconds(ban.UntilUnixMs):u} ({ban.Id})", reason), ban.Id);
        Log.Banned(logger, ban.Id, actor);
        return ban;
    }

    public async Task<bool> Unban(string id, string actor, string why)
    {
        var now = Now;
        if (!await store.LiftBanAsync(id, now, actor, CancellationToken.None))
        {
            return false;
        }

        _bans.Remove(id, out var lifted);
        _version++;
        var target = lifted is null ? id : $"{Describe(lifted.Target)} {lifted.Value} ({id})";
        await AuditAsync(new AuditEntry(now, actor, AuditActions.Unban, target, why), id);
        return true;
    }

    public async Task<BanRecord?> Reported(string address, ulong reporterId, string reason)
    {
        var now = Now;
        Expire(now);
        if (_challenged.Count < MostAddresses || _challenged.ContainsKey(address))
        {
            _challenged[address] = now + (long)_options.ChallengeReportedFor.TotalMilliseconds;
        }

        if (_options.AutoBanReports <= 0 || (_reports.Count >= MostAddresses && !_reports.ContainsKey(address)))
        {
            return null;
        }

        var window = (long)_options.AutoBanWindow.TotalMilliseconds;
        if (!_reports.TryGetValue(address, out var reports))
        {
            _reports[address] = reports = [];
        }

        reports.RemoveAll(r => r.At <= now - window || r.Reporter == reporterId);
        reports.Add((reporterId, now));
        if (reports.Count < _options.AutoBanReports || _bans.Values.Any(b => b.Target == BanTarget.Address && b.Value == address))
        {
            return null;
        }

        _reports.Remove(address);
        var minutes = (int)_options.AutoBanWindow.TotalMinutes;
        return await Ban(BanTarget.Address, address, _options.AutoBanFor, $"reported by {reports.Count} visitors within {minutes} minutes (last: {reason})", AutoActor);
    }

    public Task Tally(Dictionary<string, long> refusals)
    {
        var minute = Now / 60_000;
        if (!_refusals.TryGetValue(minute, out var counts))
        {
            _refusals[minute] = counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var old in _refusals.Keys.Where(m => m <= minute - 60).ToList())
            {
                _refusals.Remove(old);
            }
        }

        foreach (var (kind, count) in refusals)
        {
            counts[kind] = counts.GetValueOrDefault(kind) + count;
        }

        return Task.CompletedTask;
    }

    public Task<Dictionary<string, long>> Refusals()
    {
        var since = Now / 60_000 - 59;
        var sum = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (minute, counts) in _refusals)
        {
            if (minute >= since)
            {
                foreach (var (kind, count) in counts)
                {
                    sum[kind] = sum.GetValueOrDefault(kind) + count;
                }
            }
        }

        return Task.FromResult(sum);
    }

    /// <summary>A new reference: a letter for its kind and 10 random hex digits (what a banned visitor may quote).</summary>
    public static string NewRef(string kind) => kind + "-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(5));

    private static string Describe(BanTarget target) => target == BanTarget.Account ? "account" : "address";

    private async Task AuditAsync(AuditEntry entry, string reference)
    {
        await store.AddAuditAsync(entry, CancellationToken.None);
        webhook.Post(WebhookEvent.ForAction(entry, reference));
    }

    /// <summary>Forgets bans that ran out (each broker stops applying one at its end by itself), challenges and counts past their time.</summary>
    private void Expire(long now)
    {
        foreach (var (id, ban) in _bans)
        {
            if (ban.UntilUnixMs <= now)
            {
                _bans.Remove(id);
                _version++;
            }
        }

        foreach (var (address, until) in _challenged)
        {
            if (until <= now)
            {
                _challenged.Remove(address);
            }
        }

        var window = (long)_options.AutoBanWindow.TotalMilliseconds;
        foreach (var (address, reports) in _reports)
        {
            if (reports.TrueForAll(r => r.At <= now - window))
            {
                _reports.Remove(address);
            }
        }
    }

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Moderation ready: {Bans} bans in force.")]
        public static partial void Loaded(ILogger logger, int bans);

        [LoggerMessage(2, LogLevel.Information, "Ban {Ref} made by {Actor}.")]
        public static partial void Banned(ILogger logger, string @ref, string actor);
    }
}
