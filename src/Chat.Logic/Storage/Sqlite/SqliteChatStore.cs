using System.Data.Common;
using Chat.Protocol.Seams;
using EvolveDb;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. Writes come only from <see cref="StoreWriter"/>'s
/// loop over one long-lived connection; reads and id reservations open pooled connections of their
/// own and run beside it. One process writes a file: SQLite is the store of a single node.
/// </summary>
internal partial class SqliteChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<SqliteChatStore> logger) : IChatStore
{
    private const string AccountColumns = "a.id, a.nickname, a.token_hash, a.created_at, a.broker, a.connection_id, a.away_since";
    private const int AccountColumnCount = 7;
    private const string MessageColumns = "m.id, m.session_id, m.sender_id, m.request_id, m.content, m.created_at";

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = options.Value.Path,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    private SqliteConnection? _writeConnection;
    private SqliteWriter? _writer;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(options.Value.Path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _writeConnection = new SqliteConnection(_connectionString);
        await _writeConnection.OpenAsync(cancellationToken);
        await ExecuteAsync(_writeConnection, "PRAGMA journal_mode=WAL;", cancellationToken);
        await ExecuteAsync(_writeConnection, $"PRAGMA synchronous={options.Value.Synchronous.ToUpperInvariant()};", cancellationToken);

        // The writer steps its statements on the raw handle, where only SQLite's own busy handler
        // waits out an id reservation holding the write lock.
        await ExecuteAsync(_writeConnection, "PRAGMA busy_timeout=30000;", cancellationToken);

        var evolve = new Evolve(_writeConnection, message => Log.Migration(logger, message))
        {
            EmbeddedResourceAssemblies = [typeof(SqliteChatStore).Assembly],
            EmbeddedResourceFilters = ["Chat.Logic.Storage.Sqlite.Migrations"],
            IsEraseDisabled = true,
            MetadataTableName = "schema_changelog",
        };
        evolve.Migrate();
        _writer = new SqliteWriter(_writeConnection, time, options.Value.IndexDelay);
        _writer.IndexEverything();
        Log.Opened(logger, Path.GetFullPath(options.Value.Path), evolve.AppliedMigrations.Count);
    }

    public async Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        await using var connection = await OpenReadAsync(cancellationToken);

        // SQLite's own busy handler waits out the writer's commit in short steps; without it the
        // provider retries only after a long sleep.
        await ExecuteAsync(connection, "PRAGMA busy_timeout=30000;", cancellationToken);

        // An immediate transaction takes the write lock first: two reservations never read the same next_id.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE id_block SET next_id = next_id + $count WHERE kind = $kind RETURNING next_id - $count;";
        command.Parameters.AddWithValue("$count", count);
        command.Parameters.AddWithValue("$kind", kind.StoredName());
        var first = (ulong)(long)(await command.ExecuteScalarAsync(cancellationToken) ?? throw new InvalidOperationException($"No id_block row for {kind}."));
        if (first + (ulong)count > IChatStore.IdLimit)
        {
            throw new StoreRefusedException($"{kind} ids would pass 2^53.");
        }

        await transaction.CommitAsync(cancellationToken);
        return first;
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
    {
        var writer = _writer ?? throw new InvalidOperationException("The store is not initialized.");
        writer.Write(batch);
        return Task.CompletedTask;
    }

    public async Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {AccountColumns} FROM account a WHERE a.id = $id;";
        command.Parameters.AddWithValue("$id", (long)accountId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadAccount(reader) : null;
    }

    public async Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT s.id, s.created_at, s.ended_at,
                   (SELECT MIN(account_id) FROM session_account WHERE session_id = s.id),
                   (SELECT MAX(account_id) FROM session_account WHERE session_id = s.id)
            FROM session s WHERE s.id = $id;
            """;
        command.Parameters.AddWithValue("$id", (long)sessionId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new SessionRecord(
            (ulong)reader.GetInt64(0),
            (ulong)reader.GetInt64(3),
            (ulong)reader.GetInt64(4),
            reader.GetInt64(1),
            reader.IsDBNull(2) ? null : reader.GetInt64(2));
    }

    public async Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var snapshot = connection.BeginTransaction(deferred: true);
        await using var command = connection.CreateCommand();
        command.Transaction = snapshot;

        // The session, its members with their delivery marks, its last indexed id, then each
        // member's own newest indexed messages (one who sent little may be far behind its partner's
        // last hundreds) and the messages not indexed yet (a message may be in both).
        command.CommandText = $"""
            SELECT created_at, ended_at FROM session WHERE id = $session;
            SELECT {AccountColumns}, IFNULL(d.msg_id, 0)
            FROM session_account sa JOIN account a ON a.id = sa.account_id
            LEFT JOIN delivery d ON d.session_id = sa.session_id AND d.account_id = sa.account_id
            WHERE sa.session_id = $session ORDER BY a.id;
            SELECT IFNULL(MAX(id), 0) FROM message_index WHERE session_id = $session;
            SELECT {MessageColumns} FROM message_index i JOIN message m ON m.id = i.id
            WHERE i.session_id = $session AND m.sender_id = (SELECT MIN(account_id) FROM session_account WHERE session_id = $session)
            ORDER BY i.id DESC LIMIT $recent;
            SELECT {MessageColumns} FROM message_index i JOIN message m ON m.id = i.id
            WHERE i.session_id = $session AND m.sender_id = (SELECT MAX(account_id) FROM session_account WHERE session_id = $session)
            ORDER BY i.id DESC LIMIT $recent;
            SELECT {MessageColumns} FROM message m
            WHERE m.id >= (SELECT from_id FROM message_index_state) AND m.session_id = $session;
            """;
        command.Parameters.AddWithValue("$session", (long)sessionId);
        command.Parameters.AddWithValue("$recent", MemberState.RecentRequestLimit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var createdAt = reader.GetInt64(0);
        long? endedAt = reader.IsDBNull(1) ? null : reader.GetInt64(1);
        await reader.NextResultAsync(cancellationToken);
        var members = new List<(AccountRecord Account, ulong Delivered)>(2);
        while (await reader.ReadAsync(cancellationToken))
        {
            members.Add((ReadAccount(reader), (ulong)reader.GetInt64(AccountColumnCount)));
        }

        if (members.Count != 2)
        {
            throw new InvalidOperationException($"Session {sessionId} has {members.Count} members.");
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var lastMsgId = (ulong)reader.GetInt64(0);
        var messages = new SortedList<ulong, MessageRecord>();
        while (await reader.NextResultAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var message = ReadMessage(reader);
                messages.TryAdd(message.Id, message);
                lastMsgId = Math.Max(lastMsgId, message.Id);
            }
        }

        MemberState Member((AccountRecord Account, ulong Delivered) member) => new(
            member.Account,
            member.Delivered,
            [.. messages.Values.Where(m => m.SenderId == member.Account.Id).TakeLast(MemberState.RecentRequestLimit).Select(m => new SentRequest(m.RequestId, m.Id))]);

        var session = new SessionRecord(sessionId, members[0].Account.Id, members[1].Account.Id, createdAt, endedAt);
        return new SessionState(session, lastMsgId, Member(members[0]), Member(members[1]));
    }

    public async Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT sa.session_id FROM session_account sa JOIN session s ON s.id = sa.session_id
            WHERE sa.account_id = $account AND s.ended_at IS NULL ORDER BY sa.session_id;
            """;
        command.Parameters.AddWithValue("$account", (long)accountId);
        return await ReadIdsAsync(command, cancellationToken);
    }

    public async Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT account_id, since FROM waiting ORDER BY since, account_id;";
        var waiting = new List<WaitingEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            waiting.Add(new WaitingEntry((ulong)reader.GetInt64(0), reader.GetInt64(1)));
        }

        return waiting;
    }

    public async Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT MIN(sa.account_id), MAX(sa.account_id) FROM session s JOIN session_account sa ON sa.session_id = s.id
            WHERE s.ended_at IS NULL GROUP BY s.id;
            """;
        var pairs = new List<ActivePair>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            pairs.Add(new ActivePair((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1)));
        }

        return pairs;
    }

    public async Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM account WHERE away_since IS NOT NULL AND away_since <= $since ORDER BY away_since, id LIMIT $limit;";
        command.Parameters.AddWithValue("$since", awaySinceUnixMs);
        command.Parameters.AddWithValue("$limit", limit);
        return await ReadIdsAsync(command, cancellationToken);
    }

    public async Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT COUNT(*) FROM account WHERE broker IS NOT NULL),
                   (SELECT COUNT(*) FROM waiting),
                   (SELECT COUNT(*) FROM session WHERE ended_at IS NULL);
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ChatCounts(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2));
    }

    public async Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT broker FROM account WHERE broker IS NOT NULL ORDER BY broker;";
        var brokers = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            brokers.Add(reader.GetString(0));
        }

        return brokers;
    }

    public async Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);

        // Two reads in one snapshot: what message_index has, and the messages above the oldest one
        // it does not have yet (about a second's worth, scanned by id). A message may be in both.
        await using var snapshot = connection.BeginTransaction(deferred: true);
        await using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = $"""
            SELECT {MessageColumns} FROM message_index i JOIN message m ON m.id = i.id
            WHERE i.session_id = $session AND i.id > $after AND m.sender_id <> $receiver
            ORDER BY i.id LIMIT $limit;
            SELECT {MessageColumns} FROM message m
            WHERE m.id >= MAX((SELECT from_id FROM message_index_state), $after + 1)
              AND m.session_id = $session AND m.sender_id <> $receiver
            ORDER BY m.id LIMIT $limit;
            """;
        command.Parameters.AddWithValue("$session", (long)sessionId);
        command.Parameters.AddWithValue("$after", (long)afterMsgId);
        command.Parameters.AddWithValue("$receiver", (long)receiverId);
        command.Parameters.AddWithValue("$limit", limit);
        var messages = new SortedList<ulong, MessageRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        do
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var message = ReadMessage(reader);
                messages.TryAdd(message.Id, message);
            }
        }
        while (await reader.NextResultAsync(cancellationToken));

        return [.. messages.Values.Take(limit)];
    }

    public async Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var connection = await OpenReadAsync(cancellationToken);
        await ExecuteAsync(connection, "PRAGMA busy_timeout=30000;", cancellationToken);

        // One immediate transaction: the writer waits for it (a few hundred rows), never the other way round.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.Parameters.AddWithValue("$before", beforeUnixMs);
        command.Parameters.AddWithValue("$limit", limit);

        // The messages of expired sessions, from the index by session and from those not indexed yet.
        command.CommandText = """
            SELECT i.session_id, i.id FROM session s JOIN message_index i ON i.session_id = s.id
            WHERE s.ended_at IS NOT NULL AND s.ended_at < $before LIMIT $limit;
            SELECT m.session_id, m.id FROM message m JOIN session s ON s.id = m.session_id
            WHERE m.id >= (SELECT from_id FROM message_index_state) AND s.ended_at < $before LIMIT $limit;
            """;
        var messages = new HashSet<(long Session, long Id)>();
        var allFound = true;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            do
            {
                var found = 0;
                while (await reader.ReadAsync(cancellationToken))
                {
                    messages.Add((reader.GetInt64(0), reader.GetInt64(1)));
                    found++;
                }

                allFound &= found < limit;
            }
            while (await reader.NextResultAsync(cancellationToken));
        }

        var deleted = 0;
        command.CommandText = "DELETE FROM message WHERE id = $id; DELETE FROM message_index WHERE session_id = $session AND id = $id;";
        var id = command.Parameters.Add("$id", SqliteType.Integer);
        var session = command.Parameters.Add("$session", SqliteType.Integer);
        foreach (var message in messages.Take(limit))
        {
            (session.Value, id.Value) = (message.Session, message.Id);
            await command.ExecuteNonQueryAsync(cancellationToken);
            deleted++;
        }

        // Once no expired session has a message left: the sessions themselves, then the accounts in none.
        if (allFound && deleted < limit)
        {
            command.Parameters["$limit"].Value = limit - deleted;
            command.CommandText = "SELECT id FROM session WHERE ended_at IS NOT NULL AND ended_at < $before ORDER BY ended_at LIMIT $limit;";
            var sessions = await ReadIdsAsync(command, cancellationToken);
            command.CommandText = """
                DELETE FROM delivery WHERE session_id = $session; DELETE FROM view_ack WHERE session_id = $session;
                DELETE FROM session_account WHERE session_id = $session; DELETE FROM session WHERE id = $session;
                """;
            foreach (var expired in sessions)
            {
                session.Value = (long)expired;
                await command.ExecuteNonQueryAsync(cancellationToken);
                deleted++;
            }

            command.Parameters["$limit"].Value = limit - deleted;
            command.CommandText = """
                DELETE FROM account WHERE id IN (
                    SELECT a.id FROM account a WHERE a.left_at IS NOT NULL AND a.left_at < $before AND a.broker IS NULL AND a.away_since IS NULL
                    AND NOT EXISTS (SELECT 1 FROM waiting w WHERE w.account_id = a.id)
                    AND NOT EXISTS (SELECT 1 FROM session_account sa WHERE sa.account_id = a.id)
                    LIMIT $limit);
                """;
            deleted += limit > deleted ? await command.ExecuteNonQueryAsync(cancellationToken) : 0;
        }

        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    public async ValueTask DisposeAsync()
    {
        _writer?.Dispose();
        if (_writeConnection is not null)
        {
            await _writeConnection.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
    }

    private async Task<SqliteConnection> OpenReadAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }


    private static async Task<IReadOnlyList<ulong>> ReadIdsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var ids = new List<ulong>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add((ulong)reader.GetInt64(0));
        }

        return ids;
    }

    private static AccountRecord ReadAccount(DbDataReader reader) => new(
        (ulong)reader.GetInt64(0),
        reader.GetString(1),
        (byte[])reader.GetValue(2),
        reader.GetInt64(3),
        reader.IsDBNull(4) ? null : new ClientEndpoint(reader.GetString(4), (ulong)reader.GetInt64(5)),
        reader.IsDBNull(6) ? null : reader.GetInt64(6));

    private static MessageRecord ReadMessage(DbDataReader reader) => new(
        (ulong)reader.GetInt64(0),
        (ulong)reader.GetInt64(1),
        (ulong)reader.GetInt64(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetInt64(5));

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Migration: {Message}")]
        public static partial void Migration(ILogger logger, string message);

        [LoggerMessage(2, LogLevel.Information, "SQLite store at {Path} ready ({Applied} migrations applied now).")]
        public static partial void Opened(ILogger logger, string path, int applied);
    }
}
