// Owns: moderation's records in the memory store, on the same rules as the relational store's.
using Chat.Logic.Moderation;

namespace Chat.Logic.Storage.Memory;

internal sealed partial class MemoryChatStore : IModerationStore
{
    private readonly Dictionary<string, ReportRecord> _reports = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BanRecord> _bans = new(StringComparer.Ordinal);
    private readonly List<AuditEntry> _audit = [];

    public Task<bool> AddReportAsync(ReportRecord report, CancellationToken cancellationToken) => Read(() =>
    {
        if (_reports.Values.Any(r => r.SessionId == report.SessionId && r.ReporterId == report.ReporterId))
        {
            return false;
        }

        _reports[report.Id] = report;
        return true;
    });

    public Task<IReadOnlyList<ReportRecord>> ListReportsAsync(bool openOnly, int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<ReportRecord>>(() =>
        [.. _reports.Values.Where(r => !openOnly || r.ClosedAtUnixMs is null).OrderByDescending(r => r.CreatedAtUnixMs).ThenBy(r => r.Id, StringComparer.Ordinal).Take(limit)]);

    public Task<ReportRecord?> FindReportAsync(string id, CancellationToken cancellationToken) => Read(() => _reports.GetValueOrDefault(id));

    public Task<bool> CloseReportAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken) => Read(() =>
    {
        if (!_reports.TryGetValue(id, out var report) || report.ClosedAtUnixMs is not null)
        {
            return false;
        }

        _reports[id] = report with { ClosedAtUnixMs = atUnixMs, ClosedBy = by };
        return true;
    });

    public Task AddBanAsync(BanRecord ban, CancellationToken cancellationToken) => Read(() => _bans[ban.Id] = ban);

    public Task<bool> LiftBanAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken) => Read(() =>
    {
        if (!_bans.TryGetValue(id, out var ban) || ban.LiftedAtUnixMs is not null || ban.UntilUnixMs <= atUnixMs)
        {
            return false;
        }

        _bans[id] = ban with { LiftedAtUnixMs = atUnixMs, LiftedBy = by };
        return true;
    });

    public Task<IReadOnlyList<BanRecord>> LoadBansAsync(long nowUnixMs, CancellationToken cancellationToken) => Read<IReadOnlyList<BanRecord>>(() =>
        [.. _bans.Values.Where(b => b.LiftedAtUnixMs is null && b.UntilUnixMs > nowUnixMs).OrderBy(b => b.CreatedAtUnixMs).ThenBy(b => b.Id, StringComparer.Ordinal)]);

    public Task AddAuditAsync(AuditEntry entry, CancellationToken cancellationToken) => Read(() =>
    {
        _audit.Add(entry);
        return true;
    });

    public Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<AuditEntry>>(() =>
        [.. Enumerable.Range(0, _audit.Count).Reverse().Select(i => _audit[i]).OrderByDescending(e => e.AtUnixMs).Take(limit)]);

    public Task<int> DeleteExpiredModerationAsync(long beforeUnixMs, CancellationToken cancellationToken) => Read(() =>
    {
        var deleted = 0;
        foreach (var report in _reports.Values.Where(r => r.CreatedAtUnixMs < beforeUnixMs).ToList())
        {
            deleted += _reports.Remove(report.Id) ? 1 : 0;
        }

        foreach (var ban in _bans.Values.Where(b => b.UntilUnixMs < beforeUnixMs || b.LiftedAtUnixMs < beforeUnixMs).ToList())
        {
            deleted += _bans.Remove(ban.Id) ? 1 : 0;
        }

        deleted += _audit.RemoveAll(e => e.AtUnixMs < beforeUnixMs);
        return deleted;
    });

    public Task<IReadOnlyList<MessageRecord>> ReadLastMessagesAsync(ulong sessionId, int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<MessageRecord>>(() =>
        _sessions.TryGetValue(sessionId, out var s) ? [.. s.Messages.Skip(Math.Max(0, s.Messages.Count - limit))] : []);
}
