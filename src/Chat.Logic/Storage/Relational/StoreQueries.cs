// Owns: every query the relational store runs, by name, in the manner of Orleans' ADO.NET
// providers (DbStoredQueries): one text per name, shared by the engines unless a dialect words it
// its own way, all of them checked against the schema at start. The shape in which an engine keeps
// messages comes from its dialect (ChatDialect.Messages), so no query here repeats it.
using System.Data.Common;

namespace Chat.Logic.Storage.Relational;

internal enum StoreQuery
{
    FindAccount,
    LoadSession,
    LoadRecentRequests,
    FindActiveSessions,
    LoadWaiting,
    LoadActivePairs,
    FindAwaySince,
    ReadCounts,
    FindBrokers,
    FindOnBroker,
    ReadMessagesFor,
    FindMessageId,
    ReserveIds,
    ExpiredMessages,
    ExpiredSessions,
    GoneAccounts,
    DeleteMessages,
    DeleteSessions,
    DeleteAccounts,

    // Moderation (IModerationStore).
    FindReportOf,
    InsertReport,
    ListReports,
    FindReport,
    CloseReport,
    InsertBan,
    LiftBan,
    LoadBans,
    InsertAudit,
    ListAudit,
    DeleteExpiredModeration,
    ReadLastMessages,
}

internal sealed class StoreQueries
{
    /// <summary>Where a query that deletes by a list takes the list of ids (numbers only, written by the store).</summary>
    public const string Ids = "{ids}";

    /// <summary>Where <see cref="StoreQuery.DeleteMessages"/> takes the list of the messages' sessions.</summary>
    public const string Sessions = "{sessions}";

    /// <summary>The account columns every read of an account selects, in <see cref="RelationalChatStore"/>'s reading order.</summary>
    public const string AccountColumns = "a.id, a.nickname, a.token_hash, a.created_at, a.broker, a.connection_id, a.away_since, a.broker_incarnation";

    /// <summary>The report columns every read of a report selects, in <see cref="RelationalChatStore"/>'s reading order.</summary>
    public const string ReportColumns = "id, session_id, reporter_id, reported_id, reporter_address, reported_address, reason, note, evidence, created_at, closed_at, closed_by";

    /// <summary>The message columns after the id, in the reading order.</summary>
    public const string MessageColumns = ", m.session_id, m.sender_id, m.request_id, m.content, m.created_at";

    private readonly string[] _texts = new string[Enum.GetValues<StoreQuery>().Length];

    public StoreQueries(ChatDialect dialect)
    {
        foreach (var query in Enum.GetValues<StoreQuery>())
        {
            _texts[(int)query] = dialect.Word(query) ?? Shared(query, dialect)
                ?? throw new InvalidOperationException($"The store's dialect {dialect.GetType().Name} has no text for query {query}.");
        }
    }

    public string this[StoreQuery query] => _texts[(int)query];

    /// <summary>Compiles every query against the migrated schema: a typo or a missing column stops the start, naming the query.</summary>
    public async Task CheckAsync(ChatDialect dialect, CancellationToken cancellationToken)
    {
        await dialect.RunAsync(
            async (connection, ct) =>
            {
                foreach (var query in Enum.GetValues<StoreQuery>())
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = this[query].Replace(Ids, "0", StringComparison.Ordinal).Replace(Sessions, "0", StringComparison.Ordinal);
                    try
                    {
                        await dialect.CheckAsync(command, ct);
                    }
                    catch (DbException ex)
                    {
                        throw new InvalidOperationException($"The store's query {query} does not compile against the schema: {ex.Message}", ex);
                    }
                }

                return true;
            },
            cancellationToken);
    }

    /// <summary>The text every engine shares, null for the ones each engine must word itself.</summary>
    private static string? Shared(StoreQuery query, ChatDialect dialect) => query switch
    {
        StoreQuery.FindAccount => $"SELECT {AccountColumns} FROM account a WHERE a.id = @id;",

        // The session; its members with their delivery and read marks; its last msgId.
        StoreQuery.LoadSession => $"""
            SELECT created_at, ended_at FROM session WHERE id = @session;
            SELECT {AccountColumns}, IFNULL(d.msg_id, 0), IFNULL(v.msg_id, 0)
            FROM session_account sa JOIN account a ON a.id = sa.account_id
            LEFT JOIN delivery d ON d.session_id = sa.session_id AND d.account_id = sa.account_id
            LEFT JOIN view_ack v ON v.session_id = sa.session_id AND v.account_id = sa.account_id
            WHERE sa.session_id = @session ORDER BY a.id;
            {dialect.Messages(new("", "= @session", Order: MessageOrder.NewestFirst, Limit: "1"))};
            """,

        // Each member's own newest requestIds (one who sent little may be far behind the partner's
        // last hundreds), read only for a session that has messages: a new session, the one every
        // match activates, costs one query text less to compile.
        StoreQuery.LoadRecentRequests => $"""
            {dialect.Messages(new(", m.request_id", "= @session", Where: "m.sender_id = (SELECT MIN(account_id) FROM session_account WHERE session_id = @session)", Order: MessageOrder.NewestFirst, Limit: "@recent"))};
            {dialect.Messages(new(", m.request_id", "= @session", Where: "m.sender_id = (SELECT MAX(account_id) FROM session_account WHERE session_id = @session)", Order: MessageOrder.NewestFirst, Limit: "@recent"))};
            """,

        StoreQuery.FindActiveSessions => """
            SELECT sa.session_id FROM session_account sa JOIN session s ON s.id = sa.session_id
            WHERE sa.account_id = @account AND s.ended_at IS NULL ORDER BY sa.session_id;
            """,

        StoreQuery.LoadWaiting => "SELECT account_id, since, profile FROM waiting ORDER BY since, account_id;",

        StoreQuery.LoadActivePairs => """
            SELECT MIN(sa.account_id), MAX(sa.account_id) FROM session s JOIN session_account sa ON sa.session_id = s.id
            WHERE s.ended_at IS NULL GROUP BY s.id;
            """,

        StoreQuery.FindAwaySince => "SELECT id FROM account WHERE away_since IS NOT NULL AND away_since <= @since ORDER BY away_since, id LIMIT @limit;",

        StoreQuery.ReadCounts => """
            SELECT (SELECT COUNT(*) FROM account WHERE broker IS NOT NULL),
                   (SELECT COUNT(*) FROM waiting),
                   (SELECT COUNT(*) FROM session WHERE ended_at IS NULL);
            """,

        StoreQuery.FindBrokers => "SELECT DISTINCT broker FROM account WHERE broker IS NOT NULL ORDER BY broker;",
        StoreQuery.FindOnBroker => "SELECT id FROM account WHERE broker = @broker ORDER BY id LIMIT @limit;",

        StoreQuery.ReadMessagesFor => dialect.Messages(new(MessageColumns, "= @session", Above: "@after", Where: "m.sender_id <> @receiver", Order: MessageOrder.OldestFirst, Limit: "@limit")) + ";",

        // A retry the filter would refuse: is it stored already? Rare (a refusal of a sender the grain may have forgotten), so a scan of the session will do.
        StoreQuery.FindMessageId => dialect.Messages(new("", "= @session", Where: "m.sender_id = @sender AND m.request_id = @request", Limit: "1")) + ";",

        // Retention: the messages of sessions ended before the cutoff, in no order, a batch at a time.
        StoreQuery.ExpiredMessages => dialect.Messages(new(", m.session_id", "IN (SELECT id FROM session WHERE ended_at < @before)", Limit: "@limit")) + ";",

        StoreQuery.ExpiredSessions => "SELECT id FROM session WHERE ended_at < @before ORDER BY ended_at, id LIMIT @limit;",

        StoreQuery.GoneAccounts => """
            SELECT a.id FROM account a
            WHERE a.left_at < @before AND a.broker IS NULL AND a.away_since IS NULL
              AND NOT EXISTS (SELECT 1 FROM waiting w WHERE w.account_id = a.id)
              AND NOT EXISTS (SELECT 1 FROM session_account sa WHERE sa.account_id = a.id)
            ORDER BY a.left_at, a.id LIMIT @limit;
            """,

        // Deleted by lists of ids read first: MariaDB runs a DELETE with an IN (subquery) as a
        // dependent subquery per row, a scan of the whole table.
        StoreQuery.DeleteSessions => $"""
            DELETE FROM delivery WHERE session_id IN ({Ids});
            DELETE FROM view_ack WHERE session_id IN ({Ids});
            DELETE FROM session_account WHERE session_id IN ({Ids});
            DELETE FROM session WHERE id IN ({Ids});
            """,

        StoreQuery.DeleteAccounts => $"DELETE FROM account WHERE id IN ({Ids});",

        StoreQuery.FindReportOf => "SELECT 1 FROM report WHERE session_id = @session AND reporter_id = @reporter;",

        StoreQuery.InsertReport => """
            INSERT INTO report (id, session_id, reporter_id, reported_id, reporter_address, reported_address, reason, note, evidence, created_at)
            VALUES (@id, @session, @reporter, @reported, @reporterAddress, @reportedAddress, @reason, @note, @evidence, @at);
            """,

        StoreQuery.ListReports => $"SELECT {ReportColumns} FROM report WHERE @open = 0 OR closed_at IS NULL ORDER BY created_at DESC, id LIMIT @limit;",

        StoreQuery.FindReport => $"SELECT {ReportColumns} FROM report WHERE id = @id;",

        StoreQuery.CloseReport => "UPDATE report SET closed_at = @at, closed_by = @by WHERE id = @id AND closed_at IS NULL;",

        StoreQuery.InsertBan => """
            INSERT INTO ban (id, target, value, reason, created_at, created_by, until)
            VALUES (@id, @target, @value, @reason, @at, @by, @until);
            """,

        StoreQuery.LiftBan => "UPDATE ban SET lifted_at = @at, lifted_by = @by WHERE id = @id AND lifted_at IS NULL AND until > @at;",

        StoreQuery.LoadBans => "SELECT id, target, value, reason, created_at, created_by, until FROM ban WHERE lifted_at IS NULL AND until > @now ORDER BY created_at, id;",

        StoreQuery.InsertAudit => "INSERT INTO audit_log (at, actor, action, target, reason) VALUES (@at, @actor, @action, @target, @reason);",

        StoreQuery.ListAudit => "SELECT at, actor, action, target, reason FROM audit_log ORDER BY at DESC, id DESC LIMIT @limit;",

        StoreQuery.DeleteExpiredModeration => """
            DELETE FROM report WHERE created_at < @before;
            DELETE FROM audit_log WHERE at < @before;
            DELETE FROM ban WHERE until < @before OR lifted_at < @before;
            """,

        StoreQuery.ReadLastMessages => dialect.Messages(new(MessageColumns, "= @session", Order: MessageOrder.NewestFirst, Limit: "@limit")) + ";",

        _ => null, // ReserveIds, DeleteMessages: each engine words them itself
    };

    /// <summary>A command for the query on <paramref name="connection"/>, in <paramref name="transaction"/> if given.</summary>
    public DbCommand Command(DbConnection connection, StoreQuery query, DbTransaction? transaction = null)
    {
        var command = connection.CreateCommand();
        command.CommandText = this[query];
        command.Transaction = transaction;
        return command;
    }
}
