// Owns: SQLite's batch writer, the store's hot path. It judges each write by WriteRules on facts it
// keeps in memory (it is the file's only writer: each session's last msgId and every requestId
// hash), applies it with statements prepared once on the raw handle, and indexes messages in bulk.
// A refused write is skipped (SQLite undoes a failed statement alone); the batch commits once.
using Chat.Logic.Storage.Relational;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// Applies batches of <see cref="StoreWrite"/> on the store's one write connection, each batch in
/// one transaction. The statements are prepared once on the raw SQLite handle and bound and
/// stepped directly: through ADO.NET every row cost a parameter binder, boxed numbers, a data
/// reader and UTF-8 copies of its strings (docs/benchmarks.md). Not thread-safe: the store calls it under its lock.
/// </summary>
/// <remarks>
/// New messages reach <c>message_index</c> in bulk, in the same transaction as a batch. The sessions
/// are split into <see cref="IndexSlices"/> slices by id, and one slice is indexed every
/// <c>IndexDelay / IndexSlices</c>, so each session's messages of about <c>IndexDelay</c> share one
/// page write, and no single commit carries a whole second's indexing (which stalled every message
/// behind it; docs/storage.md). <c>message_index_state.from_id</c> holds the
/// smallest id not indexed yet in any slice, so readers know where to scan <c>message</c> from.
/// </remarks>
internal sealed class SqliteWriter : IBatchWriter, IStoreWriteTarget, IStoreFacts
{
    private readonly sqlite3 _db;
    private readonly List<sqlite3_stmt> _all = [];
    private readonly sqlite3_stmt _begin;

    // With synchronous=FULL, a batch of only marks (StoreWrite.MustBeDurable false) commits with
    // NORMAL: no fsync of its own. At a human pace a lone delivery or read mark was a commit and an
    // fsync of its own, a third of all fsyncs (docs/benchmarks.md, "Wake-ups"). Null otherwise.
    private readonly sqlite3_stmt? _syncFull;
    private readonly sqlite3_stmt? _syncNormal;
    private bool _relaxed;
    private readonly sqlite3_stmt _commit;
    private readonly sqlite3_stmt _rollback;
    private readonly sqlite3_stmt _insertMessage;
    private readonly sqlite3_stmt _insertAccount;
    private readonly sqlite3_stmt _accountExists;
    private readonly sqlite3_stmt _isWaiting;
    private readonly sqlite3_stmt _activeSessionsOf;
    private readonly sqlite3_stmt _insertSession;
    private readonly sqlite3_stmt _insertSessionAccounts;
    private readonly sqlite3_stmt _endSession;
    private readonly sqlite3_stmt _upsertViewed;
    private readonly sqlite3_stmt _upsertDelivered;
    private readonly sqlite3_stmt _indexMessages;
    private readonly sqlite3_stmt _indexUnindexed;
    private readonly sqlite3_stmt _setIndexFrom;
    private readonly sqlite3_stmt _bindAccount;
    private readonly sqlite3_stmt _unbindAccount;
    private readonly sqlite3_stmt _accountAway;
    private readonly sqlite3_stmt _brokerGoneWaiting;
    private readonly sqlite3_stmt _brokerGoneAway;
    private readonly sqlite3_stmt _brokerGoneUnbind;
    private readonly sqlite3_stmt _insertWaiting;
    private readonly sqlite3_stmt _deleteWaiting;
    private readonly sqlite3_stmt _lastMsgId;
    private readonly sqlite3_stmt _requestIdsOf;
    private readonly sqlite3_stmt _isStoredAs;
    private readonly sqlite3_stmt _storedUnder;
    private readonly TimeProvider _time;

    // The last msgId stored per session this writer has seen, so a message at or below it is
    // refused without a read per message. The batch being written works on its own entries.
    private readonly Dictionary<ulong, ulong> _lastMsgIds = [];
    private readonly Dictionary<ulong, ulong> _batchLastMsgIds = [];
    private readonly List<ulong> _batchEnded = [];

    // Every requestId hash of each session, loaded once per session (like its last msgId); the batch
    // being written keeps its own messages on the side (with their ids), added once it commits.
    private readonly Dictionary<ulong, RequestIdSet> _requestIds = [];
    private readonly Dictionary<(ulong Session, ulong Key), ulong> _batchRequestIds = [];

    // The hash of the message being judged, from StoredUnder (the rules' last step for a message that may be stored).
    private ulong _judgedKey;
    private readonly TimeSpan _sliceInterval;

    // Per slice, the smallest id not indexed yet; the batch being written works on a copy.
    private readonly long[] _indexFrom = new long[IndexSlices];
    private readonly long[] _batchIndexFrom = new long[IndexSlices];
    private long _persistedFrom = NothingToIndex;
    private int _nextSlice;
    private long _sliceIndexedAt;

    /// <summary><c>message_index_state.from_id</c> when every message is indexed.</summary>
    private const long NothingToIndex = long.MaxValue;

    /// <summary>Sessions are indexed in this many groups (by session id), one group at a time.</summary>
    public const int IndexSlices = 16;

    public SqliteWriter(SqliteConnection connection, TimeProvider time, TimeSpan indexDelay, string synchronous = "FULL")
    {
        _time = time;
        _sliceInterval = indexDelay / IndexSlices;
        _sliceIndexedAt = time.GetTimestamp();
        Array.Fill(_indexFrom, NothingToIndex);
        _db = connection.Handle ?? throw new InvalidOperationException("The write connection is not open.");
        _begin = Prepare("BEGIN IMMEDIATE;");
        if (synchronous.Equals("FULL", StringComparison.OrdinalIgnoreCase))
        {
            _syncFull = Prepare("PRAGMA synchronous=FULL;");
            _syncNormal = Prepare("PRAGMA synchronous=NORMAL;");
        }

        _commit = Prepare("COMMIT;");
        _rollback = Prepare("ROLLBACK;");
        _insertMessage = Prepare("INSERT INTO message (id, session_id, sender_id, request_id, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6);");
        _insertAccount = Prepare("INSERT INTO account (id, nickname, token_hash, created_at, broker, connection_id, broker_incarnation, away_since, left_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9);");
        _accountExists = Prepare("SELECT 1 FROM account WHERE id = ?1;");
        _isWaiting = Prepare("SELECT 1 FROM waiting WHERE account_id = ?1;");
        _activeSessionsOf = Prepare("SELECT COUNT(*) FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE sa.account_id = ?1 AND s.ended_at IS NULL;");
        _bindAccount = Prepare("UPDATE account SET broker = ?2, connection_id = ?3, broker_incarnation = ?4, away_since = NULL, left_at = NULL WHERE id = ?1;");
        _unbindAccount = Prepare("UPDATE account SET broker = NULL, connection_id = NULL, broker_incarnation = NULL, away_since = ?2, left_at = ?3 WHERE id = ?1;");
        _accountAway = Prepare("UPDATE account SET away_since = ?2 WHERE id = ?1 AND away_since IS NULL;");
        const string OnBroker = "broker = ?1 AND (?3 = 0 OR IFNULL(broker_incarnation, 0) <> ?3)";
        _brokerGoneWaiting = Prepare($"DELETE FROM waiting WHERE account_id IN (SELECT id FROM account WHERE {OnBroker});");
        _brokerGoneAway = Prepare($"""
            UPDATE account SET away_since = ?2 WHERE {OnBroker} AND away_since IS NULL AND EXISTS (
                SELECT 1 FROM session_account sa JOIN session s ON s.id = sa.session_id
                WHERE sa.account_id = account.id AND s.ended_at IS NULL);
            """);
        _brokerGoneUnbind = Prepare($"UPDATE account SET broker = NULL, connection_id = NULL, broker_incarnation = NULL, left_at = ?2 WHERE {OnBroker};");
        _insertWaiting = Prepare("INSERT OR IGNORE INTO waiting (account_id, since, profile) VALUES (?1, ?2, ?3);");
        _deleteWaiting = Prepare("DELETE FROM waiting WHERE account_id = ?1;");
        _lastMsgId = Prepare($"""
            SELECT (SELECT COUNT(*) FROM session WHERE id = ?1),
                   IFNULL(({SqliteDialect.MessagesOf(new("", "= ?1", Order: MessageOrder.NewestFirst, Limit: "1"))}), 0);
            """);
        _requestIdsOf = Prepare(SqliteDialect.MessagesOf(new(", m.sender_id, m.request_id", "= ?1")) + ";");
        _isStoredAs = Prepare("SELECT 1 FROM message WHERE id = ?1 AND session_id = ?2 AND sender_id = ?3 AND request_id = ?4;");
        _storedUnder = Prepare(SqliteDialect.MessagesOf(new("", "= ?1", Where: "m.sender_id = ?2 AND m.request_id = ?3", Order: MessageOrder.OldestFirst, Limit: "1")) + ";");
        _insertSession = Prepare("INSERT INTO session (id, created_at) VALUES (?1, ?2);");
        _insertSessionAccounts = Prepare("INSERT INTO session_account (session_id, account_id) VALUES (?1, ?2), (?1, ?3);");
        _endSession = Prepare("UPDATE session SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL;");
        _upsertViewed = Prepare("""
            INSERT INTO view_ack (session_id, account_id, msg_id, modified_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (session_id, account_id) DO UPDATE SET msg_id = excluded.msg_id, modified_at = excluded.modified_at
            WHERE excluded.msg_id > view_ack.msg_id;
            """);
        _upsertDelivered = Prepare("""
            INSERT INTO delivery (session_id, account_id, msg_id) VALUES (?1, ?2, ?3)
            ON CONFLICT (session_id, account_id) DO UPDATE SET msg_id = excluded.msg_id
            WHERE excluded.msg_id > delivery.msg_id;
            """);
        _indexMessages = Prepare($"INSERT OR IGNORE INTO message_index (session_id, id) SELECT session_id, id FROM message WHERE id >= ?1 AND session_id % {IndexSlices} = ?2 ORDER BY session_id, id;");
        _indexUnindexed = Prepare("INSERT OR IGNORE INTO message_index (session_id, id) SELECT session_id, id FROM message WHERE id >= (SELECT from_id FROM message_index_state) ORDER BY session_id, id;");
        _setIndexFrom = Prepare("UPDATE message_index_state SET from_id = ?1;");
    }

    /// <summary>
    /// Indexes, in one transaction, everything the last run committed but did not index: at start,
    /// so the reads that rely on <c>message_index</c> (active sessions, their last ids and requestIds)
    /// find every message.
    /// </summary>
    /// <summary>Between transactions: FULL for a batch with anything that must be durable, NORMAL for marks only.</summary>
    private void SyncFor(IReadOnlyList<StoreWrite> batch)
    {
        if (_syncFull is null || _syncNormal is null)
        {
            return;
        }

        var relax = true;
        for (var i = 0; i < batch.Count && relax; i++)
        {
            relax = !batch[i].MustBeDurable;
        }

        if (relax != _relaxed)
        {
            Step(relax ? _syncNormal : _syncFull);
            _relaxed = relax;
        }
    }

    public void IndexEverything()
    {
        Step(_begin);
        try
        {
            Step(_indexUnindexed);
            BindInt(_setIndexFrom, 1, NothingToIndex);
            Step(_setIndexFrom);
            Step(_commit);
        }
        catch
        {
            RollBack();
            throw;
        }
    }

    /// <summary>Commits the batch in one transaction, in order; each write's outcome goes to <paramref name="outcomes"/>.</summary>
    public void Write(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes)
    {
        SyncFor(batch);
        Step(_begin);
        _batchLastMsgIds.Clear();
        _batchEnded.Clear();
        _batchRequestIds.Clear();
        try
        {
            var indexFrom = _batchIndexFrom;
            _indexFrom.CopyTo(indexFrom, 0);
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] = batch[i].ApplyTo(this);
            }

            var indexedSlice = -1;
            if (_time.GetElapsedTime(_sliceIndexedAt) >= _sliceInterval && NextSliceToIndex(indexFrom) is var slice and >= 0)
            {
                BindInt(_indexMessages, 1, indexFrom[slice]);
                BindInt(_indexMessages, 2, slice);
                Step(_indexMessages);
                indexFrom[slice] = NothingToIndex;
                indexedSlice = slice;
            }

            var persistedFrom = indexFrom.Min();
            if (persistedFrom != _persistedFrom)
            {
                BindInt(_setIndexFrom, 1, persistedFrom);
                Step(_setIndexFrom);
            }

            Step(_commit);
            indexFrom.CopyTo(_indexFrom, 0);
            foreach (var (sessionId, last) in _batchLastMsgIds)
            {
                _lastMsgIds[sessionId] = last;
            }

            foreach (var ((sessionId, key), _) in _batchRequestIds)
            {
                if (_requestIds.TryGetValue(sessionId, out var requestIds))
                {
                    requestIds.Add(key);
                }
            }

            foreach (var sessionId in _batchEnded)
            {
                _lastMsgIds.Remove(sessionId); // no more messages: a late one reads the store again
                _requestIds.Remove(sessionId);
            }

            _persistedFrom = persistedFrom;
            if (indexedSlice >= 0)
            {
                _nextSlice = (indexedSlice + 1) % IndexSlices;
                _sliceIndexedAt = _time.GetTimestamp();
            }
        }
        catch
        {
            RollBack();
            throw;
        }
    }

    public WriteOutcome NewMessage(StoreWrite.NewMessage write)
    {
        var m = write.Message;
        var outcome = WriteRules.JudgeMessage(m, this);
        if (outcome.Result != WriteResult.Stored)
        {
            return outcome;
        }

        BindInt(_insertMessage, 1, (long)m.Id);
        BindInt(_insertMessage, 2, (long)m.SessionId);
        BindInt(_insertMessage, 3, (long)m.SenderId);
        BindText(_insertMessage, 4, m.RequestId);
        BindText(_insertMessage, 5, m.Content);
        BindInt(_insertMessage, 6, m.CreatedAtUnixMs);
        if (!TryStep(_insertMessage))
        {
            return WriteRules.IdUsed("message", m.Id);
        }

        _batchLastMsgIds[m.SessionId] = m.Id;
        _batchRequestIds[(m.SessionId, _judgedKey)] = m.Id;
        ref var from = ref _batchIndexFrom[Slice(m.SessionId)];
        from = Math.Min(from, (long)m.Id);
        return WriteOutcome.Stored;
    }

    public WriteOutcome NewAccount(StoreWrite.NewAccount write)
    {
        var a = write.Account;
        if (WriteRules.OutOfRange("account", a.Id) is { } refused)
        {
            return refused;
        }

        BindInt(_insertAccount, 1, (long)a.Id);
        BindText(_insertAccount, 2, a.NickName);
        Check(raw.sqlite3_bind_blob(_insertAccount, 3, a.TokenHash));
        BindInt(_insertAccount, 4, a.CreatedAtUnixMs);
        BindEndpoint(_insertAccount, 5, a.Endpoint);
        BindNullableInt(_insertAccount, 8, a.AwaySinceUnixMs);
        BindNullableInt(_insertAccount, 9, a.Endpoint is null ? a.CreatedAtUnixMs : null);
        return TryStep(_insertAccount) ? WriteOutcome.Stored : WriteRules.IdUsed("account", a.Id);
    }

    public WriteOutcome AccountBound(StoreWrite.AccountBound write)
    {
        BindEndpoint(_bindAccount, 2, write.Endpoint);
        return Run(_bindAccount, (long)write.AccountId);
    }

    public WriteOutcome AccountUnbound(StoreWrite.AccountUnbound write)
    {
        BindNullableInt(_unbindAccount, 2, write.AwaySinceUnixMs);
        BindInt(_unbindAccount, 3, write.AtUnixMs);
        return Run(_unbindAccount, (long)write.AccountId);
    }

    public WriteOutcome AccountAway(StoreWrite.AccountAway write)
    {
        BindInt(_accountAway, 2, write.AwaySinceUnixMs);
        return Run(_accountAway, (long)write.AccountId);
    }

    public WriteOutcome BrokerGone(StoreWrite.BrokerGone write)
    {
        foreach (var statement in (ReadOnlySpan<sqlite3_stmt>)[_brokerGoneWaiting, _brokerGoneAway, _brokerGoneUnbind])
        {
            BindText(statement, 1, write.Broker);
            BindInt(statement, 2, write.AtUnixMs);
            BindInt(statement, 3, write.KeepIncarnation);
            Step(statement);
        }

        return WriteOutcome.Stored;
    }

    public WriteOutcome NewSession(StoreWrite.NewSession write)
    {
        var s = write.Session;
        if (WriteRules.RefuseSession(write, this) is { } refused)
        {
            return refused;
        }

        BindInts(_insertSession, (long)s.Id, s.CreatedAtUnixMs);
        if (!TryStep(_insertSession))
        {
            return WriteRules.IdUsed("session", s.Id);
        }

        Run(_insertSessionAccounts, (long)s.Id, (long)s.FirstAccountId, (long)s.SecondAccountId);
        foreach (var claimed in write.Claims)
        {
            Run(_deleteWaiting, (long)claimed);
        }

        _batchLastMsgIds[s.Id] = 0;
        _requestIds[s.Id] = new RequestIdSet(); // nothing stored in it yet; a rolled-back batch leaves it empty too
        return WriteOutcome.Stored;
    }

    public WriteOutcome SessionEnded(StoreWrite.SessionEnded write)
    {
        _batchEnded.Add(write.SessionId);
        return Run(_endSession, (long)write.SessionId, write.EndedAtUnixMs);
    }

    public WriteOutcome ViewedUpTo(StoreWrite.ViewedUpTo write) => Run(_upsertViewed, (long)write.SessionId, (long)write.AccountId, (long)write.MsgId, write.AtUnixMs);

    public WriteOutcome DeliveredUpTo(StoreWrite.DeliveredUpTo write) => Run(_upsertDelivered, (long)write.SessionId, (long)write.AccountId, (long)write.MsgId);

    public WriteOutcome WaitingAdded(StoreWrite.WaitingAdded write)
    {
        BindInts(_insertWaiting, (long)write.AccountId, write.SinceUnixMs);
        if (write.Profile is { } profile)
        {
            BindText(_insertWaiting, 3, profile);
        }
        else
        {
            Check(raw.sqlite3_bind_null(_insertWaiting, 3));
        }

        Step(_insertWaiting);
        return WriteOutcome.Stored;
    }

    public WriteOutcome WaitingRemoved(StoreWrite.WaitingRemoved write) => Run(_deleteWaiting, (long)write.AccountId);

    public bool AccountExists(ulong accountId)
    {
        BindInt(_accountExists, 1, (long)accountId);
        return HasRow(_accountExists);
    }

    // The batch's transaction sees its own earlier writes: a claim or a session earlier in it counts.
    public bool IsWaiting(ulong accountId)
    {
        BindInt(_isWaiting, 1, (long)accountId);
        return HasRow(_isWaiting);
    }

    public int ActiveSessionsOf(ulong accountId)
    {
        BindInt(_activeSessionsOf, 1, (long)accountId);
        try
        {
            return raw.sqlite3_step(_activeSessionsOf) == raw.SQLITE_ROW ? raw.sqlite3_column_int(_activeSessionsOf, 0) : throw Error(raw.sqlite3_errcode(_db));
        }
        finally
        {
            raw.sqlite3_reset(_activeSessionsOf);
        }
    }

    /// <summary>The session's last stored msgId (this batch's included), from memory once the writer has seen the session.</summary>
    public bool TryGetLastMsgId(ulong sessionId, out ulong lastMsgId)
    {
        if (_batchLastMsgIds.TryGetValue(sessionId, out lastMsgId) || _lastMsgIds.TryGetValue(sessionId, out lastMsgId))
        {
            return true;
        }

        BindInt(_lastMsgId, 1, (long)sessionId);
        try
        {
            if (raw.sqlite3_step(_lastMsgId) != raw.SQLITE_ROW)
            {
                throw Error(raw.sqlite3_errcode(_db));
            }

            if (raw.sqlite3_column_int64(_lastMsgId, 0) == 0)
            {
                return false;
            }

            lastMsgId = (ulong)raw.sqlite3_column_int64(_lastMsgId, 1);
        }
        finally
        {
            raw.sqlite3_reset(_lastMsgId);
        }

        _batchLastMsgIds[sessionId] = lastMsgId;
        return true;
    }

    /// <summary>
    /// The msgId the sender already stored under the message's requestId in its session (this batch's
    /// included), or 0. A hash found is confirmed by the row itself, so a collision never refuses a new message.
    /// </summary>
    public ulong StoredUnder(MessageRecord m)
    {
        var key = _judgedKey = RequestIdSet.KeyOf(m.SenderId, m.RequestId);
        if (_batchRequestIds.TryGetValue((m.SessionId, key), out var inBatch) && IsStoredAs(inBatch, m))
        {
            return inBatch;
        }

        if (!_requestIds.TryGetValue(m.SessionId, out var requestIds))
        {
            requestIds = LoadRequestIds(m.SessionId);
            _requestIds[m.SessionId] = requestIds;
        }

        return requestIds.Contains(key) ? FindStoredUnder(m) : 0;
    }

    public void Dispose()
    {
        foreach (var statement in _all)
        {
            statement.Dispose();
        }
    }

    private void RollBack()
    {
        if (raw.sqlite3_get_autocommit(_db) == 0)
        {
            Step(_rollback);
        }
    }

    private static int Slice(ulong sessionId) => (int)(sessionId % IndexSlices);

    /// <summary>The next slice in turn with messages to index, or -1.</summary>
    private int NextSliceToIndex(long[] indexFrom)
    {
        for (var i = 0; i < IndexSlices; i++)
        {
            var slice = (_nextSlice + i) % IndexSlices;
            if (indexFrom[slice] != NothingToIndex)
            {
                return slice;
            }
        }

        return -1;
    }

    /// <summary>Every requestId hash of the session as committed (the batch being written has stored none of its messages yet).</summary>
    private RequestIdSet LoadRequestIds(ulong sessionId)
    {
        var requestIds = new RequestIdSet();
        BindInt(_requestIdsOf, 1, (long)sessionId);
        try
        {
            int rc;
            while ((rc = raw.sqlite3_step(_requestIdsOf)) == raw.SQLITE_ROW)
            {
                var sender = (ulong)raw.sqlite3_column_int64(_requestIdsOf, 1);
                requestIds.Add(RequestIdSet.KeyOf(sender, raw.sqlite3_column_text(_requestIdsOf, 2).utf8_to_string()));
            }

            if (rc != raw.SQLITE_DONE)
            {
                throw Error(rc);
            }
        }
        finally
        {
            raw.sqlite3_reset(_requestIdsOf);
        }

        return requestIds;
    }

    private bool IsStoredAs(ulong msgId, MessageRecord m)
    {
        BindInt(_isStoredAs, 1, (long)msgId);
        BindInt(_isStoredAs, 2, (long)m.SessionId);
        BindInt(_isStoredAs, 3, (long)m.SenderId);
        BindText(_isStoredAs, 4, m.RequestId);
        return HasRow(_isStoredAs);
    }

    /// <summary>The first message the sender stored under the requestId in the session, read from the file (a retry, or a hash collision): 0 if none.</summary>
    private ulong FindStoredUnder(MessageRecord m)
    {
        BindInt(_storedUnder, 1, (long)m.SessionId);
        BindInt(_storedUnder, 2, (long)m.SenderId);
        BindText(_storedUnder, 3, m.RequestId);
        try
        {
            var rc = raw.sqlite3_step(_storedUnder);
            return rc == raw.SQLITE_ROW ? (ulong)raw.sqlite3_column_int64(_storedUnder, 0) : rc == raw.SQLITE_DONE ? 0UL : throw Error(rc);
        }
        finally
        {
            raw.sqlite3_reset(_storedUnder);
        }
    }

    /// <summary>Steps a query; true when it returned a row.</summary>
    private bool HasRow(sqlite3_stmt statement)
    {
        try
        {
            var rc = raw.sqlite3_step(statement);
            return rc == raw.SQLITE_ROW || (rc == raw.SQLITE_DONE ? false : throw Error(rc));
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    private void BindEndpoint(sqlite3_stmt statement, int index, Chat.Protocol.Seams.ClientEndpoint? endpoint)
    {
        if (endpoint is { } e)
        {
            BindText(statement, index, e.Broker);
            BindInt(statement, index + 1, (long)e.ConnectionId);
            BindInt(statement, index + 2, e.Incarnation);
        }
        else
        {
            Check(raw.sqlite3_bind_null(statement, index));
            Check(raw.sqlite3_bind_null(statement, index + 1));
            Check(raw.sqlite3_bind_null(statement, index + 2));
        }
    }

    private void BindNullableInt(sqlite3_stmt statement, int index, long? value) =>
        Check(value is { } v ? raw.sqlite3_bind_int64(statement, index, v) : raw.sqlite3_bind_null(statement, index));

    private sqlite3_stmt Prepare(string sql)
    {
        Check(raw.sqlite3_prepare_v3(_db, sql, raw.SQLITE_PREPARE_PERSISTENT, out var statement, out _));
        _all.Add(statement);
        return statement;
    }

    private void BindInt(sqlite3_stmt statement, int index, long value) => Check(raw.sqlite3_bind_int64(statement, index, value));

    /// <summary>Binds the numbers to parameters 1, 2, … in order.</summary>
    private void BindInts(sqlite3_stmt statement, params ReadOnlySpan<long> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            BindInt(statement, i + 1, values[i]);
        }
    }

    /// <summary>Binds the numbers to parameters 1, 2, … and runs a write that cannot be refused.</summary>
    private WriteOutcome Run(sqlite3_stmt statement, params ReadOnlySpan<long> values)
    {
        BindInts(statement, values);
        Step(statement);
        return WriteOutcome.Stored;
    }

    // SQLite converts UTF-16 to the file's UTF-8 itself, so no UTF-8 copy is made here.
    private void BindText(sqlite3_stmt statement, int index, string value) => Check(raw.sqlite3_bind_text16(statement, index, value.AsSpan()));

    /// <summary>Runs a statement that returns no rows and makes it ready to bind again; any failure fails the batch.</summary>
    private void Step(sqlite3_stmt statement)
    {
        if (!TryStep(statement))
        {
            throw new SqliteException("SQLite refused, by a constraint, a write it has no reason to refuse.", raw.SQLITE_CONSTRAINT);
        }
    }

    /// <summary>
    /// Runs a statement that returns no rows; false when a constraint refused it (a used id). SQLite
    /// then undoes that statement alone and the batch's transaction goes on. Other failures throw.
    /// </summary>
    private bool TryStep(sqlite3_stmt statement)
    {
        var rc = raw.sqlite3_step(statement);
        if (rc == raw.SQLITE_DONE)
        {
            raw.sqlite3_reset(statement);
            return true;
        }

        var error = (rc & 0xFF) == raw.SQLITE_CONSTRAINT ? null : Error(rc);
        raw.sqlite3_reset(statement);
        return error is null ? false : throw error;
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw Error(rc);
        }
    }

    private SqliteException Error(int rc) =>
        new($"SQLite Error {rc}: '{raw.sqlite3_errmsg(_db).utf8_to_string()}'.", rc, raw.sqlite3_extended_errcode(_db));
}
