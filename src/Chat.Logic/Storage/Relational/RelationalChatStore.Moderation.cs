// Owns: moderation's records (reports, bans, the audit log) in the relational store, by the same
// named, checked queries as the chat's. Each call is one short transaction of its own beside the
// batch writer: these writes are rare.
using System.Data.Common;
using System.Text.Json;
using Chat.Logic.Moderation;
using Chat.Protocol.Seams;

namespace Chat.Logic.Storage.Relational;

internal abstract partial class RelationalChatStore : IModerationStore
{
    public Task<bool> AddReportAsync(ReportRecord report, CancellationToken cancellationToken) => _dialect.RunAsync(
        async (connection, ct) =>
        {
            await using var transaction = await _dialect.BeginWriteAsync(connection, ct);
            await using (var find = _queries.Command(connection, StoreQuery.FindReportOf, transaction))
            {
                Add(find, "@session", (long)report.SessionId);
                Add(find, "@reporter", (long)report.ReporterId);
                if (await find.ExecuteScalarAsync(ct) is not null)
                {
                    return false;
                }
            }

            await using (var insert = _queries.Command(connection, StoreQuery.InsertReport, transaction))
            {
                Add(insert, "@id", report.Id);
                Add(insert, "@session", (long)report.SessionId);
                Add(insert, "@reporter", (long)report.ReporterId);
                Add(insert, "@reported", (long)report.ReportedId);
                AddNullable(insert, "@reporterAddress", report.ReporterAddress);
                AddNullable(insert, "@reportedAddress", report.ReportedAddress);
                Add(insert, "@reason", report.Reason);
                AddNullable(insert, "@note", report.Note);
                Add(insert, "@evidence", JsonSerializer.Serialize([.. report.Evidence], EvidenceJsonContext.Default.ListEvidenceLine));
                Add(insert, "@at", report.CreatedAtUnixMs);
                await insert.ExecuteNonQueryAsync(ct);
            }

            await transaction.CommitAsync(ct);
            return true;
        },
        cancellationToken);

    public Task<IReadOnlyList<ReportRecord>> ListReportsAsync(bool openOnly, int limit, CancellationToken cancellationToken) =>
        ReadListAsync(StoreQuery.ListReports, ReadReport, cancellationToken, ("@open", openOnly ? 1 : 0), ("@limit", limit));

    public async Task<ReportRecord?> FindReportAsync(string id, CancellationToken cancellationToken) =>
        await ReadListAsync(StoreQuery.FindReport, ReadReport, cancellationToken, ("@id", id)) is [var found, ..] ? found : null;

    public async Task<bool> CloseReportAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken) =>
        await ExecuteModerationAsync(StoreQuery.CloseReport, cancellationToken, ("@id", id), ("@at", atUnixMs), ("@by", by)) > 0;

    public async Task AddBanAsync(BanRecord ban, CancellationToken cancellationToken) =>
        await ExecuteModerationAsync(
            StoreQuery.InsertBan,
            cancellationToken,
            ("@id", ban.Id),
            ("@target", (int)ban.Target),
            ("@value", ban.Value),
            ("@reason", ban.Reason),
            ("@at", ban.CreatedAtUnixMs),
            ("@by", ban.CreatedBy),
            ("@until", ban.UntilUnixMs));

    public async Task<bool> LiftBanAsync(string id, long atUnixMs, string by, CancellationToken cancellationToken) =>
        await ExecuteModerationAsync(StoreQuery.LiftBan, cancellationToken, ("@id", id), ("@at", atUnixMs), ("@by", by)) > 0;

    public Task<IReadOnlyList<BanRecord>> LoadBansAsync(long nowUnixMs, CancellationToken cancellationToken) => ReadListAsync(
        StoreQuery.LoadBans,
        static reader => new BanRecord(
            reader.GetString(0),
            (BanTarget)reader.GetInt32(1),
            reader.GetString(2),
            reader.GetString(3),
            reader.GetInt64(4),
            reader.GetString(5),
            reader.GetInt64(6)),
        cancellationToken,
        ("@now", nowUnixMs));

    public async Task AddAuditAsync(AuditEntry entry, CancellationToken cancellationToken) =>
        await ExecuteModerationAsync(
            StoreQuery.InsertAudit,
            cancellationToken,
            ("@at", entry.AtUnixMs),
            ("@actor", entry.Actor),
            ("@action", entry.Action),
            ("@target", entry.Target),
            ("@reason", entry.Reason));

    public Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken) => ReadListAsync(
        StoreQuery.ListAudit,
        static reader => new AuditEntry(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)),
        cancellationToken,
        ("@limit", limit));

    public Task<int> DeleteExpiredModerationAsync(long beforeUnixMs, CancellationToken cancellationToken) =>
        ExecuteModerationAsync(StoreQuery.DeleteExpiredModeration, cancellationToken, ("@before", beforeUnixMs));

    public async Task<IReadOnlyList<MessageRecord>> ReadLastMessagesAsync(ulong sessionId, int limit, CancellationToken cancellationToken)
    {
        var newestFirst = await ReadListAsync(StoreQuery.ReadLastMessages, ReadMessage, cancellationToken, ("@session", (long)sessionId), ("@limit", limit));
        return [.. newestFirst.Reverse()];
    }

    /// <summary>Runs one write of moderation's in a transaction of its own; returns the rows it changed.</summary>
    private Task<int> ExecuteModerationAsync(StoreQuery query, CancellationToken cancellationToken, params (string Name, object Value)[] parameters) => _dialect.RunAsync(
        async (connection, ct) =>
        {
            await using var transaction = await _dialect.BeginWriteAsync(connection, ct);
            await using var command = _queries.Command(connection, query, transaction);
            foreach (var (name, value) in parameters)
            {
                Add(command, name, value);
            }

            var changed = await command.ExecuteNonQueryAsync(ct);
            await transaction.CommitAsync(ct);
            return changed;
        },
        cancellationToken);

    private static void AddNullable(DbCommand command, string name, string? value) => Add(command, name, value is null ? DBNull.Value : value);

    /// <summary>A report from <see cref="StoreQueries.ReportColumns"/>.</summary>
    private static ReportRecord ReadReport(DbDataReader reader) => new(
        reader.GetString(0),
        (ulong)reader.GetInt64(1),
        (ulong)reader.GetInt64(2),
        (ulong)reader.GetInt64(3),
        reader.IsDBNull(4) ? null : reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        reader.GetString(6),
        reader.IsDBNull(7) ? null : reader.GetString(7),
        JsonSerializer.Deserialize(reader.GetString(8), EvidenceJsonContext.Default.ListEvidenceLine) ?? [],
        reader.GetInt64(9),
        reader.IsDBNull(10) ? null : reader.GetInt64(10),
        reader.IsDBNull(11) ? null : reader.GetString(11));
}
