using System.Data.Common;
using EvolveDb;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. Writes come only from <see cref="StoreWriter"/>'s
/// loop over one long-lived connection; reads open pooled connections of their own and run beside it.
/// </summary>
public sealed partial class SqliteChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<SqliteChatStore> logger) : IChatStore
{
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

    public async Task<StoreHighWater> ReadHighWaterAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT IFNULL(MAX(id), 0) FROM account),
                   (SELECT IFNULL(MAX(id), 0) FROM session),
                   (SELECT IFNULL(MAX(id), 0) FROM message);
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new StoreHighWater((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1), (ulong)reader.GetInt64(2));
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
        command.CommandText = "SELECT id, nickname, token_hash, created_at FROM account WHERE id = $id;";
        command.Parameters.AddWithValue("$id", (long)accountId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return ReadAccount(reader);
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
        var sessions = await ReadSessionsAsync(command, cancellationToken);
        return sessions.Count == 0 ? null : sessions[0];
    }

    public async Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);

        // Two reads in one snapshot: what message_index has, and the messages above the oldest one
        // it does not have yet (about a second's worth, scanned by id). A message may be in both.
        await using var snapshot = connection.BeginTransaction(deferred: true);
        await using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = """
            SELECT m.id, m.session_id, m.sender_id, m.request_id, m.content, m.created_at
            FROM message_index i JOIN message m ON m.id = i.id
            WHERE i.session_id = $session AND i.id > $after AND m.sender_id <> $receiver
            ORDER BY i.id LIMIT $limit;
            SELECT id, session_id, sender_id, request_id, content, created_at FROM message
            WHERE id >= MAX((SELECT from_id FROM message_index_state), $after + 1)
              AND session_id = $session AND sender_id <> $receiver
            ORDER BY id LIMIT $limit;
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

    public async Task<ActiveState> LoadActiveAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        var sessions = new List<ActiveSessionState>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT s.id, s.created_at, a.first_id, a.second_id,
                       (SELECT IFNULL(MAX(id), 0) FROM message_index WHERE session_id = s.id),
                       IFNULL((SELECT msg_id FROM delivery WHERE session_id = s.id AND account_id = a.first_id), 0),
                       IFNULL((SELECT msg_id FROM delivery WHERE session_id = s.id AND account_id = a.second_id), 0)
                FROM session s
                JOIN (SELECT session_id, MIN(account_id) AS first_id, MAX(account_id) AS second_id
                      FROM session_account GROUP BY session_id) a ON a.session_id = s.id
                WHERE s.ended_at IS NULL;
                """;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var session = new SessionRecord((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(2), (ulong)reader.GetInt64(3), reader.GetInt64(1));
                sessions.Add(new ActiveSessionState(session, (ulong)reader.GetInt64(4), (ulong)reader.GetInt64(5), (ulong)reader.GetInt64(6), []));
            }
        }

        for (var i = 0; i < sessions.Count; i++)
        {
            sessions[i] = sessions[i] with { RecentRequests = await ReadRecentRequestsAsync(connection, sessions[i].Session, cancellationToken) };
        }

        var accounts = new List<AccountRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT id, nickname, token_hash, created_at FROM account WHERE id IN (
                    SELECT sa.account_id FROM session_account sa JOIN session s ON s.id = sa.session_id WHERE s.ended_at IS NULL);
                """;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                accounts.Add(ReadAccount(reader));
            }
        }

        return new ActiveState(sessions, accounts);
    }

    /// <summary>Each member's last requestIds in the session, newest read first, oldest returned first.</summary>
    private static async Task<IReadOnlyList<SentRequest>> ReadRecentRequestsAsync(SqliteConnection connection, SessionRecord session, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT m.sender_id, m.request_id, m.id FROM message_index i JOIN message m ON m.id = i.id
            WHERE i.session_id = $session ORDER BY i.id DESC;
            """;
        command.Parameters.AddWithValue("$session", (long)session.Id);
        var recent = new List<SentRequest>();
        int first = 0, second = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while ((first < ActiveSessionState.RecentRequestLimit || second < ActiveSessionState.RecentRequestLimit) && await reader.ReadAsync(cancellationToken))
        {
            var sender = (ulong)reader.GetInt64(0);
            ref var count = ref sender == session.FirstAccountId ? ref first : ref second;
            if (count < ActiveSessionState.RecentRequestLimit)
            {
                count++;
                recent.Add(new SentRequest(sender, reader.GetString(1), (ulong)reader.GetInt64(2)));
            }
        }

        recent.Reverse();
        return recent;
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
        // SQLite's "async" reads run synchronously. A reader that got here on the writer's thread (a
        // sender's read loop goes on there after its message commits, and may find a RECONNECT_REQ
        // already buffered) must not hold up every commit behind its read.
        if (StoreWriter.OnWriterThread)
        {
            await Task.Yield();
        }

        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private static async Task<IReadOnlyList<SessionRecord>> ReadSessionsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var sessions = new List<SessionRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            sessions.Add(new SessionRecord(
                (ulong)reader.GetInt64(0),
                (ulong)reader.GetInt64(3),
                (ulong)reader.GetInt64(4),
                reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetInt64(2)));
        }

        return sessions;
    }

    private static AccountRecord ReadAccount(DbDataReader reader) =>
        new((ulong)reader.GetInt64(0), reader.GetString(1), (byte[])reader.GetValue(2), reader.GetInt64(3));

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
