// Owns: SQLite as a dialect of the relational store: one file in WAL mode, its pragmas and
// migrations, its pooled read connections, and
// the shape in which it keeps messages (message_index ∪ the messages not indexed yet), written once
// in Messages and used by every query that reads messages, the writer's included.
using System.Data.Common;
using Chat.Logic.Storage.Relational;
using EvolveDb;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. Writes come only from <see cref="StoreWriter"/>'s
/// loop over one long-lived connection (<see cref="SqliteWriter"/>); reads and id reservations open
/// pooled connections of their own and run beside it. One process writes a file: SQLite is the
/// store of a single node. What it holds is the visitors' words: the folder it makes is its user's
/// alone (0700), the files are (0600, which SQLite gives its -wal and -shm too), and a delete
/// overwrites what it deletes (<c>secure_delete=FAST</c>), so a deleted chat is not left readable
/// in the file's free space.
/// </summary>
internal sealed class SqliteChatStore(SqliteDialect dialect, ILogger logger) : RelationalChatStore(dialect, logger)
{
    public SqliteChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<SqliteChatStore> logger)
        : this(new SqliteDialect(options.Value, time, logger), logger)
    {
    }
}

internal sealed partial class SqliteDialect(StoreOptions options, TimeProvider time, ILogger logger) : ChatDialect
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder { DataSource = options.Path, Pooling = true, DefaultTimeout = 30 }.ToString();
    private SqliteConnection? _writeConnection;

    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOthers = ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    public override async Task<int> MigrateAsync(CancellationToken cancellationToken)
    {
        KeepToOwner(Path.GetFullPath(options.Path));
        _writeConnection = new SqliteConnection(_connectionString);
        await _writeConnection.OpenAsync(cancellationToken);
        await ExecuteAsync(_writeConnection, "PRAGMA journal_mode=WAL;", cancellationToken);
        await ExecuteAsync(_writeConnection, "PRAGMA secure_delete=FAST;", cancellationToken);
        await ExecuteAsync(_writeConnection, $"PRAGMA synchronous={options.Synchronous.ToUpperInvariant()};", cancellationToken);

        // The writer steps its statements on the raw handle, where only SQLite's own busy handler
        // waits out an id reservation holding the write lock.
        await ExecuteAsync(_writeConnection, "PRAGMA busy_timeout=30000;", cancellationToken);

        var evolve = new Evolve(_writeConnection, message => Log.Migration(logger, message))
        {
            EmbeddedResourceAssemblies = [typeof(SqliteDialect).Assembly],
            EmbeddedResourceFilters = ["Chat.Logic.Storage.Sqlite.Migrations"],
            IsEraseDisabled = true,
            MetadataTableName = "schema_changelog",
        };
        evolve.Migrate();
        return evolve.AppliedMigrations.Count;
    }

    public override string Describe() => $"SQLite {Path.GetFullPath(options.Path)}";

    public override IBatchWriter OpenWriter()
    {
        var writer = new SqliteWriter(_writeConnection ?? throw new InvalidOperationException("The store is not migrated."), time, options.IndexDelay, options.Synchronous);
        writer.IndexEverything();
        return writer;
    }

    public override async Task<T> RunAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return await work(connection, cancellationToken);
    }

    public override Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: true));

    public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // SQLite's own busy handler waits out the writer's commit in short steps; without it the
        // provider retries only after a long sleep. The immediate transaction takes the write lock
        // first, so two reservations never read the same next_id.
        // Retention deletes run here: they overwrite what they delete, as the writer's do.
        await ExecuteAsync((SqliteConnection)connection, "PRAGMA busy_timeout=30000; PRAGMA secure_delete=FAST;", cancellationToken);
        return ((SqliteConnection)connection).BeginTransaction(deferred: false);
    }

    public override string Messages(MessageQuery query) => MessagesOf(query);

    /// <summary>
    /// The one place the shape of SQLite's delayed index is written: the session's messages in
    /// <c>message_index</c>, and the ones above <c>message_index_state.from_id</c> that are not in it
    /// yet (about a second's worth, scanned by id), each message once. Both halves come in id order,
    /// so an ordered query merges them and stops at its limit.
    /// </summary>
    public static string MessagesOf(MessageQuery q) => $"""
        SELECT i.id{q.Columns} FROM message_index i JOIN message m ON m.id = i.id
        WHERE i.session_id {q.Sessions}{q.Conditions("i.id")}
        UNION ALL
        SELECT m.id{q.Columns} FROM message m
        WHERE m.id >= (SELECT from_id FROM message_index_state) AND m.session_id {q.Sessions}{q.Conditions("m.id")}
          AND NOT EXISTS (SELECT 1 FROM message_index x WHERE x.session_id = m.session_id AND x.id = m.id){q.Ending("1")}
        """;

    public override string? Word(StoreQuery query) => query switch
    {
        // An immediate transaction around one statement: RETURNING hands back the first id of the block.
        StoreQuery.ReserveIds => "UPDATE id_block SET next_id = next_id + @count WHERE kind = @kind AND next_id + @count <= @limit RETURNING 1, next_id - @count;",
        StoreQuery.DeleteMessages => $"""
            DELETE FROM message WHERE id IN ({StoreQueries.Ids});
            DELETE FROM message_index WHERE session_id IN ({StoreQueries.Sessions}) AND id IN ({StoreQueries.Ids});
            """,
        _ => null,
    };

    public override Task CheckAsync(DbCommand command, CancellationToken cancellationToken)
    {
        command.Prepare(); // compiles every statement of the text; binds nothing
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_writeConnection is { } connection)
        {
            _writeConnection = null;
            SqliteConnection.ClearPool(connection);
            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// A folder made here is the user's alone; the database file is created the user's alone before
    /// SQLite opens it (SQLite gives its -wal and -shm the database's mode), and files an older
    /// version left readable to others are made the user's alone.
    /// </summary>
    private void KeepToOwner(string database)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix modes; the folder's ACL decides
        }

        if (Path.GetDirectoryName(database) is { Length: > 0 } folder && !Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder, OwnerOnlyFolder);
        }

        if (!File.Exists(database))
        {
            using var created = new FileStream(database, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnlyFile });
        }

        foreach (var file in (string[])[database, database + "-wal", database + "-shm"])
        {
            try
            {
                if (File.Exists(file) && (File.GetUnixFileMode(file) & GroupOrOthers) != 0)
                {
                    File.SetUnixFileMode(file, OwnerOnlyFile);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.NotOwnerOnly(logger, file, ex.Message);
            }
        }
    }

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

        [LoggerMessage(2, LogLevel.Warning, "{File} is readable by other users and could not be made the chat's alone: {Reason}")]
        public static partial void NotOwnerOnly(ILogger logger, string file, string reason);
    }
}
