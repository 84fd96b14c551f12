using System.Data;
using System.Text;
using MySqlConnector;

namespace Chat.Logic.Storage.MariaDb;

/// <summary>
/// Applies batches of <see cref="StoreWrite"/> on one long-lived MariaDB connection, each batch in
/// one transaction and one round trip: the whole batch is one multi-statement command (consecutive
/// messages, accounts and delivery marks as multi-row statements), from START TRANSACTION to COMMIT.
/// A batch with messages first locks the rows of the messages' sessions and checks, in an anonymous
/// block (<c>BEGIN NOT ATOMIC</c>), that each session exists and has no message at or above the
/// batch's first one for it; if not, the block signals and the server runs nothing after it (a
/// session has one writer in the cluster, but while a node dies two activations of a session may
/// briefly write at once). Not thread-safe: only <see cref="StoreWriter"/>'s loop calls it.
/// </summary>
/// <remarks>
/// The writer's connection reads committed data (READ COMMITTED): the last msgIds are read after the
/// session rows are locked, so they include whatever another writer of those sessions committed
/// before the lock was granted. Sessions are locked in id order, so two writers never deadlock on them.
/// </remarks>
internal sealed class MariaDbWriter(string connectionString, StoreBreaker breaker) : IDisposable
{
    /// <summary>How the batch's own check (a SIGNAL) starts its message, so it is told from any other error.</summary>
    private const string RefusedPrefix = "chat store refused: ";

    private readonly StringBuilder _sql = new(4096);
    private readonly List<MySqlParameter> _parameters = [];
    private readonly SortedDictionary<ulong, ulong> _firstMsgIds = [];
    private readonly Dictionary<ulong, ulong> _batchLastMsgIds = [];
    private MySqlConnection? _connection;

    /// <summary>Commits the batch all-or-nothing, in order.</summary>
    public void Write(IReadOnlyList<StoreWrite> batch)
    {
        Prepare(batch);
        breaker.ThrowIfOpen();
        var connection = _connection;
        try
        {
            if (connection is null)
            {
                connection = new MySqlConnection(connectionString);
                connection.Open();
                using var setup = new MySqlCommand("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;", connection);
                setup.ExecuteNonQuery();
                _connection = connection;
            }

            using var command = new MySqlCommand(_sql.ToString(), connection);
            command.Parameters.AddRange(_parameters.ToArray());
            command.ExecuteNonQuery();
            breaker.Succeeded();
        }
        catch (MySqlException ex) when (connection is { State: ConnectionState.Open } && IsRefusal(ex))
        {
            RollBack(connection);
            breaker.Succeeded();
            throw Refusal(ex, batch, connection);
        }
        catch (Exception ex)
        {
            // The outcome is unknown (a COMMIT may have landed): the batch fails whole, and a retry
            // of a message finds its first attempt by requestId.
            if (connection is { State: ConnectionState.Open } && ex is MySqlException { ErrorCode: not MySqlErrorCode.CommandTimeoutExpired })
            {
                RollBack(connection); // a server error that left the connection usable (a deadlock, a lock wait)
                throw new StoreUnavailableException("The database failed the batch.", ex);
            }

            Drop();
            breaker.Failed();
            throw new StoreUnavailableException("The database could not be reached.", ex);
        }
    }

    public void Dispose() => Drop();

    /// <summary>Builds the batch's command text and parameters. Refuses ids out of range and messages that do not rise within the batch.</summary>
    private void Prepare(IReadOnlyList<StoreWrite> batch)
    {
        _sql.Clear();
        _parameters.Clear();
        _firstMsgIds.Clear();
        _batchLastMsgIds.Clear();
        foreach (var write in batch)
        {
            switch (write)
            {
                case StoreWrite.NewAccount { Account: var a }:
                    CheckId(a.Id);
                    break;
                case StoreWrite.NewSession { Session: var s }:
                    CheckId(s.Id);
                    if (s.FirstAccountId == s.SecondAccountId)
                    {
                        throw new StoreRefusedException($"Session {s.Id} needs two accounts.");
                    }

                    _batchLastMsgIds[s.Id] = 0;
                    break;
                case StoreWrite.NewMessage { Message: var m }:
                    CheckId(m.Id);
                    if (_batchLastMsgIds.TryGetValue(m.SessionId, out var last))
                    {
                        if (m.Id <= last)
                        {
                            throw new StoreRefusedException($"Message {m.Id} is not above the last of session {m.SessionId} ({last}).");
                        }
                    }
                    else
                    {
                        _firstMsgIds[m.SessionId] = m.Id;
                    }

                    _batchLastMsgIds[m.SessionId] = m.Id;
                    break;
            }
        }

        _sql.Append("START TRANSACTION;\n");
        if (_firstMsgIds.Count > 0)
        {
            // The sessions' rows locked in id order (two writers never deadlock on them). Then, in a
            // statement of its own that reads after the locks are granted (READ COMMITTED), each
            // session's last msgId, one index dive each, against the batch's first message for it.
            // The pairs come as one JSON array through JSON_TABLE: one SELECT for the server to parse
            // and prepare, where a derived table of one-row SELECTs was one per session, and ORed
            // ranges on message spent more CPU in the range optimizer than the inserts themselves.
            _sql.Append("BEGIN NOT ATOMIC\n  DECLARE found INT;\n  SELECT COUNT(*) INTO found FROM (SELECT id FROM session WHERE id IN (");
            AppendIdList(_firstMsgIds.Keys);
            _sql.Append(") ORDER BY id FOR UPDATE) locked;\n  IF found <> ").Append(_firstMsgIds.Count)
                .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a message names a session that does not exist'; END IF;\n")
                .Append("  IF EXISTS (SELECT 1 FROM JSON_TABLE('[");
            var first = true;
            foreach (var (sessionId, firstMsgId) in _firstMsgIds)
            {
                (first ? _sql : _sql.Append(',')).Append('[').Append(sessionId).Append(',').Append(firstMsgId).Append(']');
                first = false;
            }

            _sql.Append("]', '$[*]' COLUMNS (session_id BIGINT UNSIGNED PATH '$[0]', first_id BIGINT UNSIGNED PATH '$[1]')) b")
                .Append(" WHERE IFNULL((SELECT m.id FROM message m WHERE m.session_id = b.session_id ORDER BY m.id DESC LIMIT 1), 0) >= b.first_id)")
                .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a message is not above the last of its session'; END IF;\nEND;\n");
        }

        for (var i = 0; i < batch.Count; i++)
        {
            i = AppendWrite(batch, i);
        }

        _sql.Append("COMMIT;");
    }

    /// <summary>Appends the statement for <c>batch[i]</c> (and the writes of the same kind right after it, as one statement where they can share it); returns the index of the last write taken.</summary>
    private int AppendWrite(IReadOnlyList<StoreWrite> batch, int i)
    {
        switch (batch[i])
        {
            case StoreWrite.NewMessage:
                _sql.Append("INSERT INTO message (session_id, id, sender_id, request_id, content, created_at) VALUES ");
                return AppendRows(batch, i, static (writer, write) =>
                {
                    var m = ((StoreWrite.NewMessage)write).Message;
                    writer.Row(m.SessionId, m.Id, m.SenderId, m.RequestId, m.Content, m.CreatedAtUnixMs);
                });
            case StoreWrite.NewAccount:
                _sql.Append("INSERT INTO account (id, nickname, token_hash, created_at, broker, connection_id, away_since, left_at) VALUES ");
                return AppendRows(batch, i, static (writer, write) =>
                {
                    var a = ((StoreWrite.NewAccount)write).Account;
                    writer.Row(a.Id, a.NickName, a.TokenHash, a.CreatedAtUnixMs, a.Endpoint?.Broker, a.Endpoint?.ConnectionId, a.AwaySinceUnixMs, a.Endpoint is null ? a.CreatedAtUnixMs : null);
                });
            case StoreWrite.DeliveredUpTo:
                _sql.Append("INSERT INTO delivery (session_id, account_id, msg_id) VALUES ");
                i = AppendRows(batch, i, static (writer, write) =>
                {
                    var d = (StoreWrite.DeliveredUpTo)write;
                    writer.Row(d.SessionId, d.AccountId, d.MsgId);
                }, endStatement: false);
                _sql.Append(" ON DUPLICATE KEY UPDATE msg_id = GREATEST(msg_id, VALUES(msg_id));\n");
                return i;
            case StoreWrite.AccountBound b:
                Statement("UPDATE account SET broker = ?, connection_id = ?, away_since = NULL, left_at = NULL WHERE id = ?;", b.Endpoint.Broker, b.Endpoint.ConnectionId, b.AccountId);
                return i;
            case StoreWrite.AccountUnbound u:
                Statement("UPDATE account SET broker = NULL, connection_id = NULL, away_since = ?, left_at = ? WHERE id = ?;", u.AwaySinceUnixMs, u.AtUnixMs, u.AccountId);
                return i;
            case StoreWrite.BrokerGone g:
                // The broker's sockets of an earlier start only: KeepIncarnation is the high 32 bits of this start's connection ids (0: all).
                Statement("DELETE w FROM waiting w JOIN account a ON a.id = w.account_id WHERE a.broker = ? AND (? = 0 OR (a.connection_id >> 32) <> ?);", g.Broker, g.KeepIncarnation, g.KeepIncarnation);
                Statement(
                    """
                    UPDATE account a SET a.away_since = ? WHERE a.broker = ? AND (? = 0 OR (a.connection_id >> 32) <> ?) AND a.away_since IS NULL AND EXISTS (
                        SELECT 1 FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE sa.account_id = a.id AND s.ended_at IS NULL);
                    """,
                    g.AtUnixMs,
                    g.Broker,
                    g.KeepIncarnation,
                    g.KeepIncarnation);
                Statement("UPDATE account SET broker = NULL, connection_id = NULL, left_at = ? WHERE broker = ? AND (? = 0 OR (connection_id >> 32) <> ?);", g.AtUnixMs, g.Broker, g.KeepIncarnation, g.KeepIncarnation);
                return i;
            case StoreWrite.NewSession { Session: var s }:
                Statement("INSERT INTO session (id, created_at) VALUES (?, ?);", s.Id, s.CreatedAtUnixMs);
                Statement("INSERT INTO session_account (session_id, account_id) VALUES (?, ?), (?, ?);", s.Id, s.FirstAccountId, s.Id, s.SecondAccountId);
                return i;
            case StoreWrite.SessionEnded e:
                Statement("UPDATE session SET ended_at = ? WHERE id = ? AND ended_at IS NULL;", e.EndedAtUnixMs, e.SessionId);
                return i;
            case StoreWrite.ViewedUpTo v:
                // modified_at first: it compares with the msg_id the row had before this statement.
                Statement(
                    """
                    INSERT INTO view_ack (session_id, account_id, msg_id, modified_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE
                        modified_at = IF(VALUES(msg_id) > msg_id, VALUES(modified_at), modified_at), msg_id = GREATEST(msg_id, VALUES(msg_id));
                    """,
                    v.SessionId,
                    v.AccountId,
                    v.MsgId,
                    v.AtUnixMs);
                return i;
            case StoreWrite.WaitingAdded w:
                Statement("INSERT INTO waiting (account_id, since) VALUES (?, ?) ON DUPLICATE KEY UPDATE account_id = account_id;", w.AccountId, w.SinceUnixMs);
                return i;
            case StoreWrite.WaitingRemoved w:
                Statement("DELETE FROM waiting WHERE account_id = ?;", w.AccountId);
                return i;
            default:
                throw new NotSupportedException($"Unknown store write {batch[i].GetType().Name}.");
        }
    }

    /// <summary>Appends one row per write of <c>batch[i]</c>'s kind from <paramref name="i"/> on; returns the index of the last one.</summary>
    private int AppendRows(IReadOnlyList<StoreWrite> batch, int i, Action<MariaDbWriter, StoreWrite> row, bool endStatement = true)
    {
        var kind = batch[i].GetType();
        var last = i;
        row(this, batch[i]);
        while (last + 1 < batch.Count && batch[last + 1].GetType() == kind)
        {
            _sql.Append(", ");
            row(this, batch[++last]);
        }

        if (endStatement)
        {
            _sql.Append(";\n");
        }

        return last;
    }

    /// <summary>
    /// One row of a multi-row statement. Numbers are written into the text (they cannot carry SQL),
    /// text and bytes go as parameters: a parameter object per number was a third of the writer's
    /// allocations per message.
    /// </summary>
    private void Row(params object?[] values)
    {
        _sql.Append('(');
        for (var i = 0; i < values.Length; i++)
        {
            if (i > 0)
            {
                _sql.Append(", ");
            }

            switch (values[i])
            {
                case null:
                    _sql.Append("NULL");
                    break;
                case ulong number:
                    _sql.Append(number);
                    break;
                case long number:
                    _sql.Append(number);
                    break;
                case var value:
                    _sql.Append('?');
                    _parameters.Add(new MySqlParameter { Value = value });
                    break;
            }
        }

        _sql.Append(')');
    }

    private void Statement(string sql, params object?[] values)
    {
        _sql.Append(sql).Append('\n');
        foreach (var value in values)
        {
            _parameters.Add(new MySqlParameter { Value = value ?? DBNull.Value });
        }
    }

    private void AppendIdList(IEnumerable<ulong> ids)
    {
        var first = true;
        foreach (var id in ids)
        {
            (first ? _sql : _sql.Append(", ")).Append(id);
            first = false;
        }
    }

    /// <summary>Errors that say a write is wrong, not that the database is unwell: the batch's own check, a duplicate key, a value that does not fit.</summary>
    private static bool IsRefusal(MySqlException ex) => (ex.SqlState == "45000" && ex.Message.StartsWith(RefusedPrefix, StringComparison.Ordinal)) || ex.ErrorCode is
        MySqlErrorCode.DuplicateKeyEntry or
        MySqlErrorCode.DataTooLong or
        MySqlErrorCode.WarningDataOutOfRange or
        MySqlErrorCode.ColumnCannotBeNull or
        MySqlErrorCode.NoReferencedRow2;

    /// <summary>
    /// The refusal to throw: a lone message whose requestId its sender already stored in the session
    /// is refused with the first one's msgId; anything else plainly (in a batch of many, the writer
    /// commits them one by one, and each lone message then learns its own answer).
    /// </summary>
    private static StoreRefusedException Refusal(MySqlException ex, IReadOnlyList<StoreWrite> batch, MySqlConnection connection)
    {
        if (ex.ErrorCode == MySqlErrorCode.DuplicateKeyEntry && batch is [StoreWrite.NewMessage { Message: var m }])
        {
            using var command = new MySqlCommand("SELECT id FROM message WHERE session_id = ? AND sender_id = ? AND request_id = ?;", connection);
            command.Parameters.Add(new MySqlParameter { Value = m.SessionId });
            command.Parameters.Add(new MySqlParameter { Value = m.SenderId });
            command.Parameters.Add(new MySqlParameter { Value = m.RequestId });
            if (command.ExecuteScalar() is ulong first)
            {
                return new AlreadyStoredException(first);
            }
        }

        return new StoreRefusedException($"Refused: {ex.Message}");
    }

    private static void CheckId(ulong id)
    {
        if (id is 0 or >= IChatStore.IdLimit)
        {
            throw new StoreRefusedException($"Id {id} is out of range.");
        }
    }

    private void RollBack(MySqlConnection connection)
    {
        try
        {
            using var rollback = new MySqlCommand("ROLLBACK;", connection);
            rollback.ExecuteNonQuery();
        }
        catch (Exception ex) when (ex is MySqlException or InvalidOperationException or IOException)
        {
            Drop(); // a connection in an unknown state is not used again
        }
    }

    private void Drop()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            MySqlConnection.ClearPool(connection);
            connection.Dispose();
        }
    }
}
