// Owns: MariaDB's batch writer, the store's hot path on a cluster. A batch is one multi-statement
// command, one round trip, when it keeps the rules as assumed; otherwise each write is judged by
// WriteRules on facts read under the batch's own locks, and the batch still commits once.
using System.Data;
using System.Text;
using Chat.Logic.Storage.Relational;
using MySqlConnector;
using Polly;

namespace Chat.Logic.Storage.MariaDb;

/// <summary>
/// Applies batches of <see cref="StoreWrite"/> on one long-lived MariaDB connection (READ COMMITTED),
/// each batch in one transaction. Not thread-safe: the store calls it under its lock.
/// </summary>
/// <remarks>
/// <para>The usual batch (one round trip): the writer judges every write by <see cref="WriteRules"/>
/// on what it assumes (every session and account it names exists, nothing in a session is at or
/// above the batch's first message for it, no requestId or id is used), and sends <c>START
/// TRANSACTION</c>, a check of those assumptions, the writes (consecutive messages, accounts and
/// delivery marks as multi-row <c>INSERT</c>s), <c>COMMIT</c>. The check (<c>BEGIN NOT ATOMIC</c>)
/// locks the rows of the messages' sessions in id order (<c>FOR UPDATE</c>: two writers of one
/// session, as while a node dies, then commit one after the other, and never deadlock on these rows),
/// then, in a statement of its own that reads after the locks are granted, compares each session's
/// last msgId (one index dive) with the batch's first message for it; the unique keys check the rest.</para>
/// <para>When an assumption is wrong (the check signals, or a unique key objects; the server runs
/// nothing after the error), the writer rolls back, locks the same rows again, reads the facts the
/// rules need (which sessions and accounts exist, the sessions' last msgIds, which of the batch's
/// requestIds and ids are used), judges each write in order, and commits the writes that keep the
/// rules: a resent requestId among a thousand other writes costs two more round trips, not a
/// thousand commits. Numbers are written into the statement text, text and bytes go as parameters.</para>
/// </remarks>
internal sealed class MariaDbWriter(string connectionString, ResiliencePipeline breaker) : IBatchWriter, IStoreWriteTarget
{
    /// <summary>How the batch's own check (a SIGNAL) starts its message, so it is told from any other error.</summary>
    private const string RefusedPrefix = "chat store refused: ";

    // MariaDB's column sizes (Migrations/V1__chat.sql): a longer text is refused, not cut.
    private const int RequestIdChars = 64, NickNameChars = 1000, BrokerChars = 255, ContentBytes = 65_535;

    private readonly StringBuilder _sql = new(4096);
    private readonly List<MySqlParameter> _parameters = [];
    private readonly Assumed _assumed = new();
    private readonly Known _known = new();
    private Statement _open;
    private MySqlConnection? _connection;

    private enum Statement
    {
        None,
        Messages,
        Accounts,
        Delivered,
    }

    /// <summary>Commits the batch in one transaction, in order; each write's outcome goes to <paramref name="outcomes"/>.</summary>
    public void Write(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes) =>
        breaker.Run(static state => state.Writer.WriteOnce(state.Batch, state.Outcomes), (Writer: this, Batch: batch, Outcomes: outcomes));

    public void Dispose() => Drop();

    private void WriteOnce(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes)
    {
        var connection = _connection ?? Connect();
        try
        {
            if (Assume(batch, outcomes))
            {
                AppendCommit(batch, outcomes, assumed: true);
                if (TryExecute(connection) is null)
                {
                    return;
                }

                RollBack(connection);
            }

            ReadFacts(connection, batch);
            Judge(batch, outcomes);
            AppendCommit(batch, outcomes, assumed: false);
            if (TryExecute(connection) is { } refused)
            {
                RollBack(connection);
                throw new StoreUnavailableException("The database refused writes the store's rules accepted.", MariaDbDialect.SafeInner(refused), unreachable: false);
            }
        }
        catch (Exception ex) when (ex is not StoreUnavailableException)
        {
            // A server error that left the connection usable (a deadlock, a lock wait): the batch fails,
            // and nothing counts against the breaker. Anything else: the outcome is unknown (a COMMIT
            // may have landed), and a retry of a message finds its first attempt by requestId.
            if (_connection is { State: ConnectionState.Open } && ex is MySqlException { ErrorCode: not MySqlErrorCode.CommandTimeoutExpired })
            {
                RollBack(_connection);
                throw new StoreUnavailableException("The database failed the batch.", MariaDbDialect.SafeInner(ex), unreachable: false);
            }

            Drop();
            throw new StoreUnavailableException("The database could not be reached.", MariaDbDialect.SafeInner(ex));
        }
    }

    private MySqlConnection Connect()
    {
        var connection = new MySqlConnection(connectionString);
        try
        {
            connection.Open();
            using var setup = new MySqlCommand("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;", connection);
            setup.ExecuteNonQuery();
        }
        catch (Exception ex)
        {
            MySqlConnection.ClearPool(connection);
            connection.Dispose();
            throw new StoreUnavailableException("The database could not be reached.", MariaDbDialect.SafeInner(ex));
        }

        return _connection = connection;
    }

    /// <summary>Judges every write on the assumed facts; false when an outcome depends on what the database holds (the facts decide).</summary>
    private bool Assume(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes)
    {
        _assumed.Clear();
        var holds = true;
        for (var i = 0; i < batch.Count; i++)
        {
            var outcome = WriteOutcome.Stored;
            switch (batch[i])
            {
                case StoreWrite.NewAccount { Account: var a }:
                    outcome = WriteRules.OutOfRange("account", a.Id) ?? outcome;
                    holds &= outcome.Result != WriteResult.Stored || _assumed.Accounts.Add(a.Id);
                    break;
                case StoreWrite.NewSession { Session: var s } pairing:
                    outcome = WriteRules.RefuseSession(pairing, _assumed) ?? outcome;
                    holds &= outcome.Result != WriteResult.Stored || (_assumed.Sessions.TryAdd(s.Id, 0) && _assumed.Paired(pairing));
                    foreach (var claimed in pairing.Claims)
                    {
                        holds &= !_assumed.WaitingChanged.Contains(claimed); // the facts decide, in the batch's order
                    }

                    break;
                case StoreWrite.WaitingAdded { AccountId: var added }:
                    _assumed.WaitingChanged.Add(added);
                    break;
                case StoreWrite.WaitingRemoved { AccountId: var removed }:
                    _assumed.WaitingChanged.Add(removed);
                    break;
                case StoreWrite.NewMessage { Message: var m }:
                    outcome = WriteRules.JudgeMessage(m, _assumed);
                    if (outcome.Result == WriteResult.Stored)
                    {
                        _assumed.Stored(m);
                    }
                    else if (WriteRules.OutOfRange("message", m.Id) is null)
                    {
                        holds = false; // not above an earlier message of the batch, which may itself be refused
                    }

                    break;
            }

            outcomes[i] = outcome;
        }

        return holds;
    }

    /// <summary>Starts the transaction, locks the rows of the batch's sessions and reads what the rules need to know; the transaction stays open.</summary>
    private void ReadFacts(MySqlConnection connection, IReadOnlyList<StoreWrite> batch)
    {
        var sessions = new SortedSet<ulong>();
        var messageSessions = new SortedSet<ulong>();
        var messageIds = new List<ulong>();
        var accounts = new SortedSet<ulong>();
        var requestIds = new HashSet<string>(StringComparer.Ordinal);
        var claims = new SortedSet<ulong>();
        var capped = new SortedSet<ulong>();
        foreach (var write in batch)
        {
            switch (write)
            {
                case StoreWrite.NewAccount { Account: var a }:
                    accounts.Add(a.Id);
                    break;
                case StoreWrite.NewSession { Session: var s } pairing:
                    sessions.Add(s.Id);
                    accounts.Add(s.FirstAccountId);
                    accounts.Add(s.SecondAccountId);
                    claims.UnionWith(pairing.Claims);
                    if (pairing.MaxSessions > 0)
                    {
                        capped.Add(s.FirstAccountId);
                        capped.Add(s.SecondAccountId);
                    }

                    break;
                case StoreWrite.NewMessage { Message: var m }:
                    sessions.Add(m.SessionId);
                    messageSessions.Add(m.SessionId);
                    messageIds.Add(m.Id);
                    requestIds.Add(m.RequestId);
                    break;
            }
        }

        _sql.Clear();
        _parameters.Clear();
        _sql.Append("START TRANSACTION;\n");
        if (sessions.Count > 0)
        {
            // Locked first, read after: the reads see whatever another writer committed before the locks were granted.
            _sql.Append("SELECT id FROM session WHERE id IN (").AppendJoin(", ", sessions).Append(") ORDER BY id FOR UPDATE;\n");
            _sql.Append("SELECT s.id, IFNULL((SELECT m.id FROM message m WHERE m.session_id = s.id ORDER BY m.id DESC LIMIT 1), 0) FROM session s WHERE s.id IN (")
                .AppendJoin(", ", sessions).Append(");\n");
        }

        if (messageSessions.Count > 0)
        {
            _sql.Append("SELECT m.session_id, m.sender_id, m.request_id, m.id FROM message m WHERE m.session_id IN (").AppendJoin(", ", messageSessions).Append(") AND m.request_id IN (");
            var first = true;
            foreach (var requestId in requestIds)
            {
                (first ? _sql : _sql.Append(", ")).Append('?');
                _parameters.Add(new MySqlParameter { Value = requestId });
                first = false;
            }

            _sql.Append(");\nSELECT id FROM message WHERE id IN (").AppendJoin(", ", messageIds).Append(");\n");
        }

        if (accounts.Count > 0)
        {
            _sql.Append("SELECT id FROM account WHERE id IN (").AppendJoin(", ", accounts).Append(");\n");
        }

        var paired = new SortedSet<ulong>(claims);
        paired.UnionWith(capped);
        if (paired.Count > 0)
        {
            // Every pairing of an account locks its row first: two writers pairing one account (a shard
            // and its stale copy) commit one after the other, and the second reads what the first did.
            _sql.Append("SELECT id FROM account WHERE id IN (").AppendJoin(", ", paired).Append(") ORDER BY id FOR UPDATE;\n");
            if (claims.Count > 0)
            {
                _sql.Append("SELECT account_id FROM waiting WHERE account_id IN (").AppendJoin(", ", claims).Append(");\n");
            }

            if (capped.Count > 0)
            {
                _sql.Append("SELECT sa.account_id, COUNT(*) FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE s.ended_at IS NULL AND sa.account_id IN (")
                    .AppendJoin(", ", capped).Append(") GROUP BY sa.account_id;\n");
            }
        }

        _known.Clear();
        using var command = new MySqlCommand(_sql.ToString(), connection);
        command.Parameters.AddRange(_parameters.ToArray());
        using var reader = command.ExecuteReader();
        if (sessions.Count > 0)
        {
            reader.NextResult(); // the locked rows
            while (reader.Read())
            {
                _known.Sessions[reader.GetUInt64(0)] = reader.GetUInt64(1);
            }

            reader.NextResult();
        }

        if (messageSessions.Count > 0)
        {
            while (reader.Read())
            {
                _known.Requests[(reader.GetUInt64(0), reader.GetUInt64(1), reader.GetString(2))] = reader.GetUInt64(3);
            }

            reader.NextResult();
            while (reader.Read())
            {
                _known.MessageIds.Add(reader.GetUInt64(0));
            }

            reader.NextResult();
        }

        if (accounts.Count > 0)
        {
            while (reader.Read())
            {
                _known.Accounts.Add(reader.GetUInt64(0));
            }

            reader.NextResult();
        }

        if (paired.Count > 0)
        {
            reader.NextResult(); // the locked rows
            if (claims.Count > 0)
            {
                while (reader.Read())
                {
                    _known.Waiting.Add(reader.GetUInt64(0));
                }

                reader.NextResult();
            }

            while (capped.Count > 0 && reader.Read())
            {
                _known.Active[reader.GetUInt64(0)] = reader.GetInt32(1);
            }
        }
    }

    /// <summary>Judges each write in order on the facts read, as every engine does, and keeps the facts up to date with what it accepts.</summary>
    private void Judge(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var outcome = WriteOutcome.Stored;
            switch (batch[i])
            {
                case StoreWrite.NewAccount { Account: var a }:
                    outcome = WriteRules.OutOfRange("account", a.Id)
                        ?? (_known.Accounts.Contains(a.Id) ? WriteRules.IdUsed("account", a.Id) : (WriteOutcome?)null)
                        ?? TooLong("nickname", a.Id, a.NickName, NickNameChars)
                        ?? TooLong("broker", a.Id, a.Endpoint?.Broker, BrokerChars)
                        ?? outcome;
                    if (outcome.Result == WriteResult.Stored)
                    {
                        _known.Accounts.Add(a.Id);
                    }

                    break;
                case StoreWrite.AccountBound b:
                    outcome = TooLong("broker", b.AccountId, b.Endpoint.Broker, BrokerChars) ?? outcome;
                    break;
                case StoreWrite.NewSession { Session: var s } pairing:
                    outcome = WriteRules.RefuseSession(pairing, _known) ?? (_known.Sessions.ContainsKey(s.Id) ? WriteRules.IdUsed("session", s.Id) : (WriteOutcome?)null) ?? outcome;
                    if (outcome.Result == WriteResult.Stored)
                    {
                        _known.Sessions[s.Id] = 0;
                        _known.Paired(pairing);
                    }

                    break;
                case StoreWrite.WaitingAdded { AccountId: var added }:
                    _known.Waiting.Add(added); // a pairing later in the batch may claim it
                    break;
                case StoreWrite.WaitingRemoved { AccountId: var removed }:
                    _known.Waiting.Remove(removed);
                    break;
                case StoreWrite.NewMessage { Message: var m }:
                    outcome = WriteRules.JudgeMessage(m, _known);
                    if (outcome.Result == WriteResult.Stored)
                    {
                        outcome = (_known.MessageIds.Contains(m.Id) ? WriteRules.IdUsed("message", m.Id) : (WriteOutcome?)null)
                            ?? TooLong("requestId", m.Id, m.RequestId, RequestIdChars)
                            ?? (Encoding.UTF8.GetByteCount(m.Content) > ContentBytes ? WriteRules.TooLong("content", m.Id, ContentBytes, "bytes") : (WriteOutcome?)null)
                            ?? outcome;
                    }

                    if (outcome.Result == WriteResult.Stored)
                    {
                        _known.Stored(m);
                    }

                    break;
            }

            outcomes[i] = outcome;
        }
    }

    private static WriteOutcome? TooLong(string what, ulong id, string? text, int most) =>
        text is { Length: var length } && length > most ? WriteRules.TooLong(what, id, most, "characters") : null;

    /// <summary>The command of the writes whose outcome is Stored, then COMMIT; the assumed batch starts its transaction and checks its assumptions first.</summary>
    private void AppendCommit(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, bool assumed)
    {
        _sql.Clear();
        _parameters.Clear();
        _open = Statement.None;
        if (assumed)
        {
            _sql.Append("START TRANSACTION;\n");
            AppendCheck();
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].Result == WriteResult.Stored)
            {
                batch[i].ApplyTo(this);
            }
        }

        Close();
        _sql.Append("COMMIT;");
    }

    /// <summary>
    /// The check of the assumptions: the messages' sessions exist (their rows locked in id order),
    /// none has a message at or above the batch's first one for it, and the accounts of new sessions
    /// exist. The pairs go as one JSON array through JSON_TABLE: one SELECT for the server to parse,
    /// where a derived table of one-row SELECTs was one per session, and ORed ranges on message spent
    /// more CPU in the range optimizer than the inserts themselves.
    /// </summary>
    private void AppendCheck()
    {
        var firsts = _assumed.FirstMsgIds;
        var members = _assumed.Members;
        var (claims, caps) = (_assumed.Claims, _assumed.Caps);
        if (firsts.Count == 0 && members.Count == 0 && claims.Count == 0 && caps.Count == 0)
        {
            return;
        }

        _sql.Append("BEGIN NOT ATOMIC\n  DECLARE found INT;\n");
        if (firsts.Count > 0)
        {
            _sql.Append("  SELECT COUNT(*) INTO found FROM (SELECT id FROM session WHERE id IN (").AppendJoin(", ", firsts.Keys)
                .Append(") ORDER BY id FOR UPDATE) locked;\n  IF found <> ").Append(firsts.Count)
                .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a message names a session that does not exist'; END IF;\n")
                .Append("  IF EXISTS (SELECT 1 FROM JSON_TABLE('[");
            var first = true;
            foreach (var (sessionId, firstMsgId) in firsts)
            {
                (first ? _sql : _sql.Append(',')).Append('[').Append(sessionId).Append(',').Append(firstMsgId).Append(']');
                first = false;
            }

            _sql.Append("]', '$[*]' COLUMNS (session_id BIGINT UNSIGNED PATH '$[0]', first_id BIGINT UNSIGNED PATH '$[1]')) b")
                .Append(" WHERE IFNULL((SELECT m.id FROM message m WHERE m.session_id = b.session_id ORDER BY m.id DESC LIMIT 1), 0) >= b.first_id)")
                .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a message is not above the last of its session'; END IF;\n");
        }

        if (members.Count > 0)
        {
            _sql.Append("  IF (SELECT COUNT(*) FROM account WHERE id IN (").AppendJoin(", ", members).Append(")) <> ").Append(members.Count)
                .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a session names an account that does not exist'; END IF;\n");
        }

        if (claims.Count > 0 || caps.Count > 0)
        {
            // The accounts of the pairings locked in id order (as ReadFacts does), then read: a pairing
            // another writer committed first is seen, and its claim or the cap then refuses this one.
            var locked = new SortedSet<ulong>(claims);
            locked.UnionWith(caps.Keys);
            _sql.Append("  SELECT COUNT(*) INTO found FROM (SELECT id FROM account WHERE id IN (").AppendJoin(", ", locked).Append(") ORDER BY id FOR UPDATE) locked;\n");
            if (claims.Count > 0)
            {
                _sql.Append("  IF (SELECT COUNT(*) FROM waiting WHERE account_id IN (").AppendJoin(", ", claims).Append(")) <> ").Append(claims.Count)
                    .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a pairing claims an account that is no longer waiting'; END IF;\n");
            }

            if (caps.Count > 0)
            {
                _sql.Append("  IF EXISTS (SELECT 1 FROM JSON_TABLE('[");
                var first = true;
                foreach (var (accountId, most) in caps)
                {
                    (first ? _sql : _sql.Append(',')).Append('[').Append(accountId).Append(',').Append(most).Append(']');
                    first = false;
                }

                _sql.Append("]', '$[*]' COLUMNS (account_id BIGINT UNSIGNED PATH '$[0]', most INT PATH '$[1]')) c")
                    .Append(" WHERE (SELECT COUNT(*) FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE sa.account_id = c.account_id AND s.ended_at IS NULL) >= c.most)")
                    .Append(" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '").Append(RefusedPrefix).Append("a pairing names an account at its cap of sessions'; END IF;\n");
            }
        }

        _sql.Append("END;\n");
    }

    /// <summary>Runs the command; null when it committed, the server's refusal when a write broke a rule (the transaction is still open then).</summary>
    private MySqlException? TryExecute(MySqlConnection connection)
    {
        using var command = new MySqlCommand(_sql.ToString(), connection);
        command.Parameters.AddRange(_parameters.ToArray());
        try
        {
            command.ExecuteNonQuery();
            return null;
        }
        catch (MySqlException ex) when (IsRefusal(ex))
        {
            return ex;
        }
    }

    /// <summary>Errors that say a write is wrong, not that the database is unwell: the batch's own check, a duplicate key, a value that does not fit.</summary>
    private static bool IsRefusal(MySqlException ex) => (ex.SqlState == "45000" && ex.Message.StartsWith(RefusedPrefix, StringComparison.Ordinal)) || ex.ErrorCode is
        MySqlErrorCode.DuplicateKeyEntry or
        MySqlErrorCode.DataTooLong or
        MySqlErrorCode.WarningDataOutOfRange or
        MySqlErrorCode.ColumnCannotBeNull or
        MySqlErrorCode.NoReferencedRow2;

    public WriteOutcome NewMessage(StoreWrite.NewMessage write)
    {
        var m = write.Message;
        Open(Statement.Messages, "INSERT INTO message (session_id, id, sender_id, request_id, content, created_at) VALUES ");
        _sql.Append('(').Append(m.SessionId).Append(", ").Append(m.Id).Append(", ").Append(m.SenderId).Append(", ");
        Text(m.RequestId);
        _sql.Append(", ");
        Text(m.Content);
        _sql.Append(", ").Append(m.CreatedAtUnixMs).Append(')');
        return WriteOutcome.Stored;
    }

    public WriteOutcome NewAccount(StoreWrite.NewAccount write)
    {
        var a = write.Account;
        Open(Statement.Accounts, "INSERT INTO account (id, nickname, token_hash, created_at, broker, connection_id, broker_incarnation, away_since, left_at) VALUES ");
        _sql.Append('(').Append(a.Id).Append(", ");
        Text(a.NickName);
        _sql.Append(", ");
        Text(a.TokenHash);
        _sql.Append(", ").Append(a.CreatedAtUnixMs).Append(", ");
        if (a.Endpoint is { } endpoint)
        {
            Text(endpoint.Broker);
            _sql.Append(", ").Append(endpoint.ConnectionId).Append(", ").Append(endpoint.Incarnation);
        }
        else
        {
            _sql.Append("NULL, NULL, NULL");
        }

        _sql.Append(", ");
        Number(a.AwaySinceUnixMs);
        _sql.Append(", ");
        Number(a.Endpoint is null ? a.CreatedAtUnixMs : null);
        _sql.Append(')');
        return WriteOutcome.Stored;
    }

    public WriteOutcome DeliveredUpTo(StoreWrite.DeliveredUpTo write)
    {
        Open(Statement.Delivered, "INSERT INTO delivery (session_id, account_id, msg_id) VALUES ");
        _sql.Append('(').Append(write.SessionId).Append(", ").Append(write.AccountId).Append(", ").Append(write.MsgId).Append(')');
        return WriteOutcome.Stored;
    }

    public WriteOutcome AccountBound(StoreWrite.AccountBound write) =>
        Single("UPDATE account SET broker = ?, connection_id = ?, broker_incarnation = ?, away_since = NULL, left_at = NULL WHERE id = ?;", write.Endpoint.Broker, write.Endpoint.ConnectionId, write.Endpoint.Incarnation, write.AccountId);

    public WriteOutcome AccountUnbound(StoreWrite.AccountUnbound write) =>
        Single("UPDATE account SET broker = NULL, connection_id = NULL, broker_incarnation = NULL, away_since = ?, left_at = ? WHERE id = ?;", write.AwaySinceUnixMs, write.AtUnixMs, write.AccountId);

    public WriteOutcome AccountAway(StoreWrite.AccountAway write) =>
        Single("UPDATE account SET away_since = ? WHERE id = ? AND away_since IS NULL;", write.AwaySinceUnixMs, write.AccountId);

    public WriteOutcome BrokerGone(StoreWrite.BrokerGone g)
    {
        // The broker's sockets of an earlier start only: KeepIncarnation is this start's, as its bindings carry it (0: all).
        Single("DELETE w FROM waiting w JOIN account a ON a.id = w.account_id WHERE a.broker = ? AND (? = 0 OR IFNULL(a.broker_incarnation, 0) <> ?);", g.Broker, g.KeepIncarnation, g.KeepIncarnation);
        Single(
            """
            UPDATE account a SET a.away_since = ? WHERE a.broker = ? AND (? = 0 OR IFNULL(a.broker_incarnation, 0) <> ?) AND a.away_since IS NULL AND EXISTS (
                SELECT 1 FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE sa.account_id = a.id AND s.ended_at IS NULL);
            """,
            g.AtUnixMs,
            g.Broker,
            g.KeepIncarnation,
            g.KeepIncarnation);
        return Single("UPDATE account SET broker = NULL, connection_id = NULL, broker_incarnation = NULL, left_at = ? WHERE broker = ? AND (? = 0 OR IFNULL(broker_incarnation, 0) <> ?);", g.AtUnixMs, g.Broker, g.KeepIncarnation, g.KeepIncarnation);
    }

    public WriteOutcome NewSession(StoreWrite.NewSession write)
    {
        var s = write.Session;
        Single("INSERT INTO session (id, created_at) VALUES (?, ?);", s.Id, s.CreatedAtUnixMs);
        Single("INSERT INTO session_account (session_id, account_id) VALUES (?, ?), (?, ?);", s.Id, s.FirstAccountId, s.Id, s.SecondAccountId);
        if (write.Claims.Count > 0)
        {
            _sql.Append("DELETE FROM waiting WHERE account_id IN (").AppendJoin(", ", write.Claims).Append(");\n");
        }

        return WriteOutcome.Stored;
    }

    public WriteOutcome SessionEnded(StoreWrite.SessionEnded write) =>
        Single("UPDATE session SET ended_at = ? WHERE id = ? AND ended_at IS NULL;", write.EndedAtUnixMs, write.SessionId);

    // modified_at first: it compares with the msg_id the row had before this statement.
    public WriteOutcome ViewedUpTo(StoreWrite.ViewedUpTo write) => Single(
        """
        INSERT INTO view_ack (session_id, account_id, msg_id, modified_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE
            modified_at = IF(VALUES(msg_id) > msg_id, VALUES(modified_at), modified_at), msg_id = GREATEST(msg_id, VALUES(msg_id));
        """,
        write.SessionId,
        write.AccountId,
        write.MsgId,
        write.AtUnixMs);

    public WriteOutcome WaitingAdded(StoreWrite.WaitingAdded write) =>
        Single("INSERT INTO waiting (account_id, since, profile) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE account_id = account_id;", write.AccountId, write.SinceUnixMs, write.Profile);

    public WriteOutcome WaitingRemoved(StoreWrite.WaitingRemoved write) =>
        Single("DELETE FROM waiting WHERE account_id = ?;", write.AccountId);

    /// <summary>Continues the multi-row statement of <paramref name="kind"/> with another row, or closes the open one and starts it.</summary>
    private void Open(Statement kind, string head)
    {
        if (_open == kind)
        {
            _sql.Append(", ");
            return;
        }

        Close();
        _sql.Append(head);
        _open = kind;
    }

    private void Close()
    {
        if (_open == Statement.Delivered)
        {
            _sql.Append(" ON DUPLICATE KEY UPDATE msg_id = GREATEST(msg_id, VALUES(msg_id))");
        }

        if (_open != Statement.None)
        {
            _sql.Append(";\n");
        }

        _open = Statement.None;
    }

    /// <summary>A statement of its own, its values as parameters (the writes that are not per message).</summary>
    private WriteOutcome Single(string sql, params object?[] values)
    {
        Close();
        _sql.Append(sql).Append('\n');
        foreach (var value in values)
        {
            _parameters.Add(new MySqlParameter { Value = value ?? DBNull.Value });
        }

        return WriteOutcome.Stored;
    }

    // Numbers go into the text (they cannot carry SQL); text and bytes as parameters: a parameter
    // object per number was a third of the writer's allocations per message.
    private void Number(long? value)
    {
        if (value is { } number)
        {
            _sql.Append(number);
        }
        else
        {
            _sql.Append("NULL");
        }
    }

    private void Text(object value)
    {
        _sql.Append('?');
        _parameters.Add(new MySqlParameter { Value = value });
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

    /// <summary>What the usual batch assumes of the database (its check verifies it), with the batch's own writes.</summary>
    private sealed class Assumed : IStoreFacts
    {
        /// <summary>Accounts the batch creates.</summary>
        public HashSet<ulong> Accounts { get; } = [];

        /// <summary>Sessions the batch writes to: its last message in each so far (0: none yet, or created in it).</summary>
        public Dictionary<ulong, ulong> Sessions { get; } = [];

        /// <summary>Sessions the batch does not create, with its first message for each: the check locks and compares them.</summary>
        public SortedDictionary<ulong, ulong> FirstMsgIds { get; } = [];

        /// <summary>Members of new sessions the batch does not create: the check finds them.</summary>
        public SortedSet<ulong> Members { get; } = [];

        /// <summary>Accounts the batch's pairings take out of the waiting pool: the check finds each waiting.</summary>
        public SortedSet<ulong> Claims { get; } = [];

        /// <summary>Members of capped pairings, with the cap: the check finds each under it.</summary>
        public SortedDictionary<ulong, int> Caps { get; } = [];

        /// <summary>Accounts whose waiting row the batch adds or removes: the check, run before the batch's writes, cannot judge a later claim of one.</summary>
        public HashSet<ulong> WaitingChanged { get; } = [];

        public void Clear()
        {
            WaitingChanged.Clear();
            Accounts.Clear();
            Sessions.Clear();
            FirstMsgIds.Clear();
            Members.Clear();
            Claims.Clear();
            Caps.Clear();
        }

        /// <summary>A pairing the batch keeps; false when an outcome of the batch would depend on another of its pairings (the facts decide then).</summary>
        public bool Paired(StoreWrite.NewSession pairing)
        {
            var holds = true;
            foreach (var claimed in pairing.Claims)
            {
                holds &= Claims.Add(claimed);
            }

            if (pairing.MaxSessions > 0)
            {
                holds &= Caps.TryAdd(pairing.Session.FirstAccountId, pairing.MaxSessions) && Caps.TryAdd(pairing.Session.SecondAccountId, pairing.MaxSessions);
            }

            return holds;
        }

        public bool IsWaiting(ulong accountId) => !Claims.Contains(accountId);

        public int ActiveSessionsOf(ulong accountId) => 0;

        public bool AccountExists(ulong accountId)
        {
            if (!Accounts.Contains(accountId))
            {
                Members.Add(accountId);
            }

            return true;
        }

        public bool TryGetLastMsgId(ulong sessionId, out ulong lastMsgId)
        {
            Sessions.TryGetValue(sessionId, out lastMsgId);
            return true;
        }

        public ulong StoredUnder(MessageRecord message) => 0;

        public void Stored(MessageRecord m)
        {
            if (Sessions.TryAdd(m.SessionId, m.Id))
            {
                FirstMsgIds[m.SessionId] = m.Id;
            }
            else
            {
                Sessions[m.SessionId] = m.Id;
            }
        }
    }

    /// <summary>What the database holds, read under the batch's locks, with the batch's writes accepted so far.</summary>
    private sealed class Known : IStoreFacts
    {
        public HashSet<ulong> Accounts { get; } = [];

        /// <summary>Sessions that exist, with their last msgId.</summary>
        public Dictionary<ulong, ulong> Sessions { get; } = [];

        public Dictionary<(ulong Session, ulong Sender, string RequestId), ulong> Requests { get; } = [];

        public HashSet<ulong> MessageIds { get; } = [];

        /// <summary>Of the accounts the batch's pairings name, those waiting.</summary>
        public HashSet<ulong> Waiting { get; } = [];

        /// <summary>Of the accounts the batch's capped pairings name, their sessions not ended (none: absent).</summary>
        public Dictionary<ulong, int> Active { get; } = [];

        public void Clear()
        {
            Accounts.Clear();
            Sessions.Clear();
            Requests.Clear();
            MessageIds.Clear();
            Waiting.Clear();
            Active.Clear();
        }

        public bool IsWaiting(ulong accountId) => Waiting.Contains(accountId);

        public int ActiveSessionsOf(ulong accountId) => Active.GetValueOrDefault(accountId);

        /// <summary>A pairing judged stored: its claims wait no more, its members have a session more.</summary>
        public void Paired(StoreWrite.NewSession pairing)
        {
            foreach (var claimed in pairing.Claims)
            {
                Waiting.Remove(claimed);
            }

            Active[pairing.Session.FirstAccountId] = ActiveSessionsOf(pairing.Session.FirstAccountId) + 1;
            Active[pairing.Session.SecondAccountId] = ActiveSessionsOf(pairing.Session.SecondAccountId) + 1;
        }

        public bool AccountExists(ulong accountId) => Accounts.Contains(accountId);

        public bool TryGetLastMsgId(ulong sessionId, out ulong lastMsgId) => Sessions.TryGetValue(sessionId, out lastMsgId);

        public ulong StoredUnder(MessageRecord m) => Requests.GetValueOrDefault((m.SessionId, m.SenderId, m.RequestId));

        public void Stored(MessageRecord m)
        {
            Sessions[m.SessionId] = m.Id;
            MessageIds.Add(m.Id);
            Requests.TryAdd((m.SessionId, m.SenderId, m.RequestId), m.Id);
        }
    }
}
