using Chat.Logic.Abuse;
using Chat.Logic.Diagnostics;
using Chat.Logic.Matching;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// Moderation as this logic node carries it out: files a visitor's report (evidence, the pair kept
/// apart, the reported address challenged and counted towards an auto-ban), carries out an operator's
/// actions (each in the audit log), and keeps a copy of the cluster's book of bans fresh for at most
/// <see cref="ModerationOptions.BanRefresh"/> for the brokers that ask and the matches made here.
/// A book that cannot be read keeps the last one read (a ban is never lifted by a failure).
/// </summary>
internal sealed partial class ModerationDesk(
    IGrainFactory grains,
    IModerationStore store,
    IMatchAvoidance avoidance,
    AddressHashes hashes,
    ModerationWebhook webhook,
    IOptions<ModerationOptions> options,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<ModerationDesk> logger) : IDisposable
{
    /// <summary>Accounts are temporary: "never matched again" is for as long as a report is kept, and no shorter than a day.</summary>
    private static readonly TimeSpan Never = TimeSpan.FromDays(3650);

    private readonly ModerationOptions _options = options.Value;
    private readonly SemaphoreSlim _reading = new(1, 1);
    private ModerationState _state = ModerationState.Empty;
    private BanBook _book = BanBook.Empty;
    private HashSet<string> _challenged = [];
    private long _readAt = long.MinValue;

    private IModerationGrain Book => grains.GetGrain<IModerationGrain>(0);

    /// <summary>The bans in force, at most <see cref="ModerationOptions.BanRefresh"/> old.</summary>
    public async ValueTask<BanBook> BansAsync()
    {
        await RefreshAsync();
        return _book;
    }

    /// <summary>Whether <paramref name="address"/> was reported lately (it solves the challenge to be matched).</summary>
    public async ValueTask<bool> IsChallengedAsync(string address)
    {
        await RefreshAsync();
        return _challenged.Contains(address);
    }

    /// <summary>
    /// Files a report the session has accepted: keeps it with the evidence, keeps the pair apart, and
    /// tells the book of bans about the reported address. False: this reporter reported this session before.
    /// <paramref name="reporterAddress"/> is where the report comes from, <paramref name="reporterAddressInChat"/>
    /// where the reporter chatted from (they differ when it reconnected elsewhere): both are kept apart from the reported.
    /// </summary>
    public async Task<bool> FileAsync(ulong sessionId, ulong reporterId, ulong reportedId, string? reporterAddress, string? reporterAddressInChat, string? reportedAddress, string reason, string? note)
    {
        var evidence = _options.EvidenceMessages > 0
            ? (await store.ReadLastMessagesAsync(sessionId, _options.EvidenceMessages, CancellationToken.None)).Select(m => new EvidenceLine(m.Id, m.SenderId, m.Content, m.CreatedAtUnixMs)).ToList()
            : [];
        var report = new ReportRecord(
            ModerationGrain.NewRef("R"), sessionId, reporterId, reportedId, hashes.Keep(reporterAddress), hashes.Keep(reportedAddress), reason, note, evidence, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (!await store.AddReportAsync(report, CancellationToken.None))
        {
            return false;
        }

        metrics.Reported(reason);
        webhook.Post(WebhookEvent.ForReport(report));
        await avoidance.Avoid(reporterId, reportedId, reporterAddress, reportedAddress, Never, _options.AvoidAddressesFor);
        if (reporterAddressInChat is not null && reporterAddressInChat != reporterAddress)
        {
            // Else the reporter's next account at the address it chatted from meets the reported again, and reports again.
            await avoidance.Avoid(reporterId, reportedId, reporterAddressInChat, reportedAddress, Never, _options.AvoidAddressesFor);
        }

        if (reportedAddress is not null && reportedAddress != ClientAddresses.Unknown)
        {
            // A reporter is its address (its account if that is unknown): many accounts of one address are one reporter to the auto-ban.
            var reporter = reporterAddress is null or ClientAddresses.Unknown ? $"account {reporterId}" : reporterAddress;
            if (await Book.Reported(reportedAddress, reporter, reason) is { } autoBan)
            {
                Log.AutoBanned(logger, autoBan.Id);
            }

            _readAt = long.MinValue; // this node knows at once (the others within BanRefresh)
        }

        return true;
    }

    public async Task<BanRecord> BanAsync(BanTarget target, string value, TimeSpan duration, string reason, string actor)
    {
        var ban = await Book.Ban(target, value, duration, reason, actor);
        _readAt = long.MinValue;
        return ban;
    }

    public async Task<bool> UnbanAsync(string id, string actor, string why)
    {
        var lifted = await Book.Unban(id, actor, why);
        _readAt = long.MinValue;
        return lifted;
    }

    /// <summary>Hands this node's refusals since the last tally to the cluster's count.</summary>
    public async Task TallyAsync()
    {
        var refusals = metrics.TakeRefusals();
        if (refusals.Count > 0)
        {
            await Book.Tally(refusals);
        }
    }

    /// <summary>The whole cluster's refusals of the last hour, by kind (this node's are tallied first).</summary>
    public async Task<Dictionary<string, long>> RefusalsAsync()
    {
        await TallyAsync();
        return await Book.Refusals();
    }

    public async Task<bool> CloseReportAsync(string id, string actor, string why)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!await store.CloseReportAsync(id, now, actor, CancellationToken.None))
        {
            return false;
        }

        var entry = new AuditEntry(now, actor, AuditActions.CloseReport, id, why);
        await store.AddAuditAsync(entry, CancellationToken.None);
        webhook.Post(WebhookEvent.ForAction(entry, id));
        return true;
    }

    private async ValueTask RefreshAsync()
    {
        var now = time.GetTimestamp();
        if (_readAt != long.MinValue && time.GetElapsedTime(_readAt, now) < _options.BanRefresh)
        {
            return;
        }

        await _reading.WaitAsync();
        try
        {
            if (_readAt != long.MinValue && time.GetElapsedTime(_readAt, time.GetTimestamp()) < _options.BanRefresh)
            {
                return; // another caller read it meanwhile
            }

            var state = await Book.Read().WaitAsync(TimeSpan.FromSeconds(2), time);
            if (state.Version != _state.Version || _readAt == long.MinValue)
            {
                _book = new BanBook(state.Version, [.. state.Bans.Select(b => b.ToBan())]);
            }

            _challenged = [.. state.Challenged];
            _state = state;
            _readAt = time.GetTimestamp();
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            metrics.Unchecked(Refusal.Banned);
            Log.ReadFailed(logger, ex); // the last book read stands
            _readAt = time.GetTimestamp();
        }
        finally
        {
            _reading.Release();
        }
    }

    public void Dispose() => _reading.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The book of bans could not be read; the last one read stands.")]
        public static partial void ReadFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Information, "Reports from several visitors banned an address ({Ref}).")]
        public static partial void AutoBanned(ILogger logger, string @ref);
    }
}
