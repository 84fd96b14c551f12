using System.Data;
using System.Data.Common;
using Chat.Protocol.Seams;
using EvolveDb;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace Chat.Logic.Storage.MariaDb;

/// <summary>
/// The shared store: one MariaDB database for every node of a cluster (all-in-one works on it too).
/// Writes come from <see cref="StoreWriter"/>'s loop over one long-lived connection
/// (<see cref="MariaDbWriter"/>); reads, id reservations and retention use pooled connections.
/// Every call goes through one <see cref="StoreBreaker"/>: while the database cannot be reached,
/// calls fail at once instead of each waiting for a timeout, and the first one after a pause finds
/// the database again.
/// </summary>
internal sealed partial class MariaDbChatStore : IChatStore
{
    private const string AccountColumns = "a.id, a.nickname, a.token_hash, a.created_at, a.broker, a.connection_id, a.away_since";
    private const int AccountColumnCount = 7;
    private const string MessageColumns = "m.id, m.session_id, m.sender_id, m.request_id, m.content, m.created_at";

    private readonly string _connectionString;
    private readonly StoreBreaker _breaker;
    private readonly ILogger<MariaDbChatStore> _logger;
    private readonly MariaDbWriter _writer;
    private readonly Lock _writing = new();

    public MariaDbChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<MariaDbChatStore> logger)
    {
        var configured = options.Value.ResolveConnectionString() ?? throw new InvalidOperationException("Chat:Store:ConnectionString is not set.");
        _connectionString = MariaDbConnectionString.WithDefaults(configured);
        _breaker = new StoreBreaker(time);
        _logger = logger;
        _writer = new MariaDbWriter(_connectionString, _breaker);
    }

    /// <summary>
    /// Applies the migrations (Storage/MariaDb/Migrations) under a lock named after the database, so
    /// nodes that start at once against one database migrate one after the other: the first applies
    /// them, the others find them applied.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var builder = new MySqlConnectionStringBuilder(_connectionString)
        {
            ConnectionTimeout = MariaDbConnectionString.StartConnectTimeoutSeconds,
            DefaultCommandTimeout = MariaDbConnectionString.MigrationTimeoutSeconds,
            Pooling = false,
        };
        await using var connection = new MySqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var lockName = $"chat.schema.{connection.Database}";
        await using (var take = new MySqlCommand("SELECT GET_LOCK(@name, @seconds);", connection))
        {
            take.Parameters.AddWithValue("@name", lockName[..Math.Min(lockName.Length, 64)]);
            take.Parameters.AddWithValue("@seconds", MariaDbConnectionString.MigrationTimeoutSeconds);
            if (Convert.ToInt64(await take.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) != 1)
            {
                throw new InvalidOperationException($"Another node held the schema lock of database {connection.Database} for {MariaDbConnectionString.MigrationTimeoutSeconds} s.");
            }
        }

        int applied;
        try
        {
            var evolve = new Evolve(connection, message => Log.Migration(_logger, message))
            {
                EmbeddedResourceAssemblies = [typeof(MariaDbChatStore).Assembly],
                EmbeddedResourceFilters = ["Chat.Logic.Storage.MariaDb.Migrations"],
                IsEraseDisabled = true,
                MetadataTableName = "schema_changelog",
                // Our own lock above is per database; Evolve's is one name for the whole server.
                EnableClusterMode = false,
                CommandTimeout = MariaDbConnectionString.MigrationTimeoutSeconds,
            };
            evolve.Migrate();
            applied = evolve.AppliedMigrations.Count;
        }
        finally
        {
            await using var release = new MySqlCommand("DO RELEASE_LOCK(@name);", connection);
            release.Parameters.AddWithValue("@name", lockName[..Math.Min(lockName.Length, 64)]);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }

        Log.Opened(_logger, MariaDbConnectionString.Describe(_connectionString), applied);
    }

    public Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);

        // One statement, atomic on the row: LAST_INSERT_ID(expr) keeps the old value for this
        // connection alone. A block that would pass 2^53 matches no row and takes nothing.
        return ReadAsync(
            async connection =>
            {
                await using var command = new MySqlCommand(
                    """
                    UPDATE id_block SET next_id = LAST_INSERT_ID(next_id) + @count WHERE kind = @kind AND next_id + @count <= @limit;
                    SELECT ROW_COUNT(), LAST_INSERT_ID();
                    """,
                    connection);
                command.Parameters.AddWithValue("@count", (ulong)count);
                command.Parameters.AddWithValue("@kind", kind.StoredName());
                command.Parameters.AddWithValue("@limit", IChatStore.IdLimit);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                if (reader.GetInt64(0) != 1)
                {
                    throw new StoreRefusedException($"{kind} ids would pass 2^53.");
                }

                return reader.GetUInt64(1);
            },
            cancellationToken);
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
    {
        lock (_writing)
        {
            _writer.Write(batch);
        }

        return Task.CompletedTask;
    }

    public Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken) => ReadAsync(
        async connection =>
        {
            await using var command = Command(connection, $"SELECT {AccountColumns} FROM account a WHERE a.id = @id;", ("@id", accountId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? ReadAccount(reader) : null;
        },
        cancellationToken);

    public Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken) => ReadAsync(
        async connection =>
        {
            await using var command = Command(
                connection,
                """
                SELECT s.created_at, s.ended_at, MIN(sa.account_id), MAX(sa.account_id)
                FROM session s JOIN session_account sa ON sa.session_id = s.id WHERE s.id = @id GROUP BY s.id;
                """,
                ("@id", sessionId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken)
                ? new SessionRecord(sessionId, reader.GetUInt64(2), reader.GetUInt64(3), reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1))
                : null;
        },
        cancellationToken);

    public Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken) => ReadAsync(
        async connection =>
        {
            // One snapshot: the session, its members with their delivery marks, its last msgId, and
            // each member's own newest requestIds (one who sent little may be far behind the partner).
            await using var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            await using var command = Command(
                connection,
                $"""
                SELECT created_at, ended_at FROM session WHERE id = @session;
                SELECT {AccountColumns}, IFNULL(d.msg_id, 0)
                FROM session_account sa JOIN account a ON a.id = sa.account_id
                LEFT JOIN delivery d ON d.session_id = sa.session_id AND d.account_id = sa.account_id
                WHERE sa.session_id = @session ORDER BY a.id;
                SELECT IFNULL(MAX(id), 0) FROM message WHERE session_id = @session;
                SELECT sender_id, request_id, id FROM message
                WHERE session_id = @session AND sender_id = (SELECT MIN(account_id) FROM session_account WHERE session_id = @session)
                ORDER BY id DESC LIMIT @recent;
                SELECT sender_id, request_id, id FROM message
                WHERE session_id = @session AND sender_id = (SELECT MAX(account_id) FROM session_account WHERE session_id = @session)
                ORDER BY id DESC LIMIT @recent;
                """,
                ("@session", sessionId),
                ("@recent", MemberState.RecentRequestLimit));
            command.Transaction = snapshot;
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
                members.Add((ReadAccount(reader), reader.GetUInt64(AccountColumnCount)));
            }

            if (members.Count != 2)
            {
                throw new InvalidOperationException($"Session {sessionId} has {members.Count} members.");
            }

            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var lastMsgId = reader.GetUInt64(0);
            var recent = new List<SentRequest>[] { [], [] };
            for (var member = 0; member < 2; member++)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    recent[member].Add(new SentRequest(reader.GetString(1), reader.GetUInt64(2)));
                }

                recent[member].Reverse(); // oldest first
            }

            var session = new SessionRecord(sessionId, members[0].Account.Id, members[1].Account.Id, createdAt, endedAt);
            return new SessionState(
                session,
                lastMsgId,
                new MemberState(members[0].Account, members[0].Delivered, recent[0]),
                new MemberState(members[1].Account, members[1].Delivered, recent[1]));
        },
        cancellationToken);

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken) => ReadAsync(
        connection => ReadIdsAsync(
            Command(
                connection,
                """
                SELECT sa.session_id FROM session_account sa JOIN session s ON s.id = sa.session_id
                WHERE sa.account_id = @account AND s.ended_at IS NULL ORDER BY sa.session_id;
                """,
                ("@account", accountId)),
            cancellationToken),
        cancellationToken);

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken) => ReadAsync<IReadOnlyList<WaitingEntry>>(
        async connection =>
        {
            await using var command = Command(connection, "SELECT account_id, since FROM waiting ORDER BY since, account_id;");
            var waiting = new List<WaitingEntry>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                waiting.Add(new WaitingEntry(reader.GetUInt64(0), reader.GetInt64(1)));
            }

            return waiting;
        },
        cancellationToken);

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken) => ReadAsync<IReadOnlyList<ActivePair>>(
        async connection =>
        {
            await using var command = Command(
                connection,
                """
                SELECT MIN(sa.account_id), MAX(sa.account_id) FROM session s JOIN session_account sa ON sa.session_id = s.id
                WHERE s.ended_at IS NULL GROUP BY s.id;
                """);
            var pairs = new List<ActivePair>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                pairs.Add(new ActivePair(reader.GetUInt64(0), reader.GetUInt64(1)));
            }

            return pairs;
        },
        cancellationToken);

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken) => ReadAsync(
        connection => ReadIdsAsync(
            Command(
                connection,
                "SELECT id FROM account WHERE away_since IS NOT NULL AND away_since <= @since ORDER BY away_since, id LIMIT @limit;",
                ("@since", awaySinceUnixMs),
                ("@limit", limit)),
            cancellationToken),
        cancellationToken);

    public Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken) => ReadAsync(
        async connection =>
        {
            await using var command = Command(
                connection,
                """
                SELECT (SELECT COUNT(*) FROM account WHERE broker IS NOT NULL),
                       (SELECT COUNT(*) FROM waiting),
                       (SELECT COUNT(*) FROM session WHERE ended_at IS NULL);
                """);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return new ChatCounts((int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2));
        },
        cancellationToken);

    public Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken) => ReadAsync<IReadOnlyList<string>>(
        async connection =>
        {
            await using var command = Command(connection, "SELECT DISTINCT broker FROM account WHERE broker IS NOT NULL ORDER BY broker;");
            var brokers = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                brokers.Add(reader.GetString(0));
            }

            return brokers;
        },
        cancellationToken);

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<MessageRecord>>(
            async connection =>
            {
                await using var command = Command(
                    connection,
                    $"""
                    SELECT {MessageColumns} FROM message m
                    WHERE m.session_id = @session AND m.id > @after AND m.sender_id <> @receiver ORDER BY m.id LIMIT @limit;
                    """,
                    ("@session", sessionId),
                    ("@after", afterMsgId),
                    ("@receiver", receiverId),
                    ("@limit", limit));
                var messages = new List<MessageRecord>();
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    messages.Add(ReadMessage(reader));
                }

                return messages;
            },
            cancellationToken);

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        // Ids are read first and deleted by list: a DELETE with an IN (subquery) is run by MariaDB
        // 10.11 as a dependent subquery per row, a scan of the whole message or account table.
        return ReadAsync(
            async connection =>
            {
                await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
                var deleted = 0;
                var expired = await IdsAsync(
                    "SELECT id FROM session WHERE ended_at < @before ORDER BY ended_at, id LIMIT @limit;",
                    ("@before", beforeUnixMs),
                    ("@limit", limit));
                if (expired.Count > 0)
                {
                    // Their messages first; once they have none left, the sessions, their members and marks.
                    var ids = string.Join(", ", expired);
                    deleted = await ExecuteAsync($"DELETE FROM message WHERE session_id IN ({ids}) LIMIT @limit;", ("@limit", limit));
                    if (deleted < limit)
                    {
                        var sessions = string.Join(", ", expired.Take(limit - deleted));
                        await ExecuteAsync(
                            $"""
                            DELETE FROM delivery WHERE session_id IN ({sessions});
                            DELETE FROM view_ack WHERE session_id IN ({sessions});
                            DELETE FROM session_account WHERE session_id IN ({sessions});
                            DELETE FROM session WHERE id IN ({sessions});
                            """);
                        deleted += Math.Min(expired.Count, limit - deleted);
                    }
                }

                if (deleted < limit)
                {
                    var gone = await IdsAsync(
                        """
                        SELECT a.id FROM account a
                        WHERE a.left_at < @before AND a.broker IS NULL AND a.away_since IS NULL
                          AND NOT EXISTS (SELECT 1 FROM waiting w WHERE w.account_id = a.id)
                          AND NOT EXISTS (SELECT 1 FROM session_account sa WHERE sa.account_id = a.id)
                        ORDER BY a.left_at, a.id LIMIT @limit;
                        """,
                        ("@before", beforeUnixMs),
                        ("@limit", limit - deleted));
                    if (gone.Count > 0)
                    {
                        deleted += await ExecuteAsync($"DELETE FROM account WHERE id IN ({string.Join(", ", gone)});");
                    }
                }

                await transaction.CommitAsync(cancellationToken);
                return deleted;

                async Task<IReadOnlyList<ulong>> IdsAsync(string sql, params (string, object)[] parameters)
                {
                    var command = Command(connection, sql, parameters);
                    command.Transaction = transaction;
                    return await ReadIdsAsync(command, cancellationToken);
                }

                async Task<int> ExecuteAsync(string sql, params (string, object)[] parameters)
                {
                    await using var command = Command(connection, sql, parameters);
                    command.Transaction = transaction;
                    return await command.ExecuteNonQueryAsync(cancellationToken);
                }
            },
            cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        lock (_writing)
        {
            _writer.Dispose();
        }

        MySqlConnection.ClearPool(new MySqlConnection(_connectionString));
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="read"/> on a pooled connection, through the breaker: a connection that
    /// cannot be opened or dies under the command opens it, and the idle connections in the pool
    /// (probably dead as well) are dropped.
    /// </summary>
    private async Task<T> ReadAsync<T>(Func<MySqlConnection, Task<T>> read, CancellationToken cancellationToken)
    {
        _breaker.ThrowIfOpen();
        var connection = new MySqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var result = await read(connection);
            _breaker.Succeeded();
            return result;
        }
        catch (Exception ex) when (ex is not (StoreRefusedException or OperationCanceledException) && connection.State != ConnectionState.Open)
        {
            _breaker.Failed();
            MySqlConnection.ClearPool(connection);
            throw new StoreUnavailableException("The database could not be reached.", ex);
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.CommandTimeoutExpired)
        {
            _breaker.Failed();
            MySqlConnection.ClearPool(connection);
            throw new StoreUnavailableException("The database did not answer in time.", ex);
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    private static MySqlCommand Command(MySqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = new MySqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }


    private static async Task<IReadOnlyList<ulong>> ReadIdsAsync(MySqlCommand command, CancellationToken cancellationToken)
    {
        await using (command)
        {
            var ids = new List<ulong>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetUInt64(0));
            }

            return ids;
        }
    }

    private static AccountRecord ReadAccount(DbDataReader reader) => new(
        reader.GetFieldValue<ulong>(0),
        reader.GetString(1),
        (byte[])reader.GetValue(2),
        reader.GetInt64(3),
        reader.IsDBNull(4) ? null : new ClientEndpoint(reader.GetString(4), reader.GetFieldValue<ulong>(5)),
        reader.IsDBNull(6) ? null : reader.GetInt64(6));

    private static MessageRecord ReadMessage(DbDataReader reader) => new(
        reader.GetFieldValue<ulong>(0),
        reader.GetFieldValue<ulong>(1),
        reader.GetFieldValue<ulong>(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetInt64(5));

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Migration: {Message}")]
        public static partial void Migration(ILogger logger, string message);

        [LoggerMessage(2, LogLevel.Information, "MariaDB store {Database} ready ({Applied} migrations applied now).")]
        public static partial void Opened(ILogger logger, string database, int applied);
    }
}
