// Owns: what moderation keeps in the store (reports with their evidence, bans, the audit log) and
// the seam through which it is kept. Each is kept Chat:Moderation:Retention (30 days) and then deleted
// by the retention sweeper, whatever the chat's own retention is.
using System.Text.Json.Serialization;
using Chat.Logic.Storage;
using Chat.Protocol.Seams;

namespace Chat.Logic.Moderation;

/// <summary>
/// A visitor's report of its partner in a session. The addresses are the salted hashes
/// (<see cref="AddressHashes"/>) unless the operator keeps them plain; either may be unknown (null).
/// </summary>
/// <param name="Evidence">The session's last messages when it was reported, oldest first.</param>
internal sealed record ReportRecord(
    string Id,
    ulong SessionId,
    ulong ReporterId,
    ulong ReportedId,
    string? ReporterAddress,
    string? ReportedAddress,
    string Reason,
    string? Note,
    IReadOnlyList<EvidenceLine> Evidence,
    long CreatedAtUnixMs,
    long? ClosedAtUnixMs = null,
    string? ClosedBy = null);

/// <summary>One message of a reported session, as the report keeps it.</summary>
internal sealed record EvidenceLine(ulong MsgId, ulong SenderId, string Content, long SentAtUnixMs);

/// <summary>A ban as the store keeps it: in force from its creation until <see cref="UntilUnixMs"/> unless lifted.</summary>
[GenerateSerializer, Immutable]
internal sealed record BanRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] BanTarget Target,
    [property: Id(2)] string Value,
    [property: Id(3)] string Reason,
    [property: Id(4)] long CreatedAtUnixMs,
    [property: Id(5)] string CreatedBy,
    [property: Id(6)] long UntilUnixMs,
    [property: Id(7)] long? LiftedAtUnixMs = null,
    [property: Id(8)] string? LiftedBy = null)
{
    public Ban ToBan() => new(Id, Target, Value, UntilUnixMs, Reason);
}

/// <summary>One operator action (or an automatic one: <see cref="Actor"/> is then <c>auto</c>): who, when, what, on what, why.</summary>
internal sealed record AuditEntry(long AtUnixMs, string Actor, string Action, string Target, string Reason);

/// <summary>The actions the audit log names.</summary>
internal static class AuditActions
{
    public const string Ban = "ban";
    public const string Unban = "unban";
    public const string CloseReport = "close_report";
}

/// <summary>
/// Where moderation keeps its records: every store (SQLite, MariaDB, memory) keeps them beside the
/// chat's. Writes are rare (a report, an operator's action) and go straight to the store, not
/// through the batch writer.
/// </summary>
internal interface IModerationStore
{
    /// <summary>Keeps the report; false (and nothing kept) when its reporter reported that session before.</summary>
    Task<bool> AddReportAsync(ReportRecord report, CancellationToken cancellationToken);

    /// <summary>Reports, newest first, at most <paramref name="limit"/>; only those not closed when <paramref name="openOnly"/>.</summary>
    Task<IReadOnlyList<ReportRecord>> ListReportsAsync(bool openOnly, int limit, CancellationToken cancellationToken);

    Task<ReportRecord?> FindReportAsync(string id, CancellationToken cancellationToken);

    /// <summary>Closes an open report; false if there is no such open report.</summary>
    Task<bool> CloseReportAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken);

    Task AddBanAsync(BanRecord ban, CancellationToken cancellationToken);

    /// <summary>Lifts a ban in force; false if there is no such ban in force at <paramref name="atUnixMs"/>.</summary>
    Task<bool> LiftBanAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken);

    /// <summary>The bans in force at <paramref name="nowUnixMs"/>, oldest first.</summary>
    Task<IReadOnlyList<BanRecord>> LoadBansAsync(long nowUnixMs, CancellationToken cancellationToken);

    Task AddAuditAsync(AuditEntry entry, CancellationToken cancellationToken);

    /// <summary>The audit log, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Deletes reports and audit entries made before <paramref name="beforeUnixMs"/>, and bans that ended (ran out or were lifted) before it; returns the rows deleted.</summary>
    Task<int> DeleteExpiredModerationAsync(long beforeUnixMs, CancellationToken cancellationToken);

    /// <summary>The session's last <paramref name="limit"/> messages, oldest first (a report's evidence).</summary>
    Task<IReadOnlyList<MessageRecord>> ReadLastMessagesAsync(ulong sessionId, int limit, CancellationToken cancellationToken);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(List<EvidenceLine>))]
internal sealed partial class EvidenceJsonContext : JsonSerializerContext;
