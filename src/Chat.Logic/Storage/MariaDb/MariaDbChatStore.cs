// Owns: MariaDB as a dialect of the relational store: one database shared by every node, its
// migrations under a per-database lock, pooled connections through the store's breaker, what
// counts as "could not reach the database", and the few queries MariaDB words its own way.
using System.Data;
using System.Data.Common;
using Chat.Logic.Storage.Relational;
using EvolveDb;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MySqlConnector;
using Polly;
using Polly.Registry;

namespace Chat.Logic.Storage.MariaDb;

/// <summary>
/// The shared store: one MariaDB database for every node of a cluster (all-in-one works on it too).
/// Writes come from <see cref="StoreWriter"/>'s loop over one long-lived connection
/// (<see cref="MariaDbWriter"/>); reads, id reservations and retention use pooled connections.
/// Every call goes through the store's breaker (<see cref="StoreResilience"/>).
/// </summary>
internal sealed class MariaDbChatStore(MariaDbDialect dialect, ILogger logger) : RelationalChatStore(dialect, logger)
{
    public MariaDbChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<MariaDbChatStore> logger, ResiliencePipelineProvider<string>? pipelines = null)
        : this(new MariaDbDialect(options.Value, pipelines?.GetPipeline(StoreResilience.PipelineName) ?? StoreResilience.Build(time), logger), logger)
    {
    }
}

internal sealed partial class MariaDbDialect : ChatDialect
{
    private readonly string _connectionString;
    private readonly ResiliencePipeline _breaker;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _turns;
    private readonly TimeSpan _queueTimeout;

    public MariaDbDialect(StoreOptions options, ResiliencePipeline breaker, ILogger logger)
    {
        var configured = options.ResolveConnectionString() ?? throw new InvalidOperationException("Chat:Store:ConnectionString is not set.");
        _connectionString = MariaDbConnectionString.WithDefaults(configured, options.Connections);
        _breaker = breaker;
        _logger = logger;
        _turns = new SemaphoreSlim(options.Connections, options.Connections);
        _queueTimeout = options.QueueTimeout;
    }

    /// <summary>
    /// Applies the migrations (Storage/MariaDb/Migrations) under a lock named after the database, so
    /// nodes that start at once against one database migrate one after the other: the first applies
    /// them, the others find them applied.
    /// </summary>
    public override async Task<int> MigrateAsync(CancellationToken cancellationToken)
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
        lockName = lockName[..Math.Min(lockName.Length, 64)];
        await using (var take = new MySqlCommand("SELECT GET_LOCK(@name, @seconds);", connection))
        {
            take.Parameters.AddWithValue("@name", lockName);
            take.Parameters.AddWithValue("@seconds", MariaDbConnectionString.MigrationTimeoutSeconds);
            if (Convert.ToInt64(await take.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) != 1)
            {
                throw new InvalidOperationException($"Another node held the schema lock of database {connection.Database} for {MariaDbConnectionString.MigrationTimeoutSeconds} s.");
            }
        }

        try
        {
            var evolve = new Evolve(connection, message => Log.Migration(_logger, message))
            {
                EmbeddedResourceAssemblies = [typeof(MariaDbDialect).Assembly],
                EmbeddedResourceFilters = ["Chat.Logic.Storage.MariaDb.Migrations"],
                IsEraseDisabled = true,
                MetadataTableName = "schema_changelog",
                // Our own lock above is per database; Evolve's is one name for the whole server.
                EnableClusterMode = false,
                CommandTimeout = MariaDbConnectionString.MigrationTimeoutSeconds,
            };
            evolve.Migrate();
            return evolve.AppliedMigrations.Count;
        }
        finally
        {
            await using var release = new MySqlCommand("DO RELEASE_LOCK(@name);", connection);
            release.Parameters.AddWithValue("@name", lockName);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    public override string Describe() => "MariaDB " + MariaDbConnectionString.Describe(_connectionString);

    public override IBatchWriter OpenWriter() => new MariaDbWriter(_connectionString, _breaker);

    /// <summary>
    /// Runs <paramref name="work"/> on a pooled connection, through the breaker: a connection that
    /// cannot be opened, dies under the command or times out counts against it, and the idle
    /// connections in the pool (probably dead as well) are dropped.
    /// </summary>
    /// <remarks>
    /// At most <see cref="StoreOptions.Connections"/> at a time; the others wait here, in order, before
    /// the breaker, so a busy database is "busy" (not counted against the breaker) and a call that
    /// gets its turn while the breaker is open fails at once instead of trying to connect.
    /// </remarks>
    public override async Task<T> RunAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (!await _turns.WaitAsync(_queueTimeout, cancellationToken))
        {
            throw new StoreUnavailableException($"The database is busy: no connection was free for {_queueTimeout.TotalSeconds:0.#} s.", unreachable: false);
        }

        try
        {
            return await RunOnPooledConnectionAsync(work, cancellationToken);
        }
        finally
        {
            _turns.Release();
        }
    }

    private Task<T> RunOnPooledConnectionAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _breaker.RunAsync(
            static async (state, ct) =>
            {
                var connection = new MySqlConnection(state.ConnectionString);
                try
                {
                    await connection.OpenAsync(ct);
                    return await state.Work(connection, ct);
                }
                catch (Exception ex) when (Unreachable(ex, connection) is { } unreachable)
                {
                    // Asynchronously: closing the idle connections talks to the server, and this runs on a
                    // grain's turn. Done synchronously, a storm of failed activations held both of a silo's
                    // scheduler threads for seconds, it missed its probes, and the cluster voted it dead.
                    await MySqlConnection.ClearPoolAsync(connection, CancellationToken.None);
                    throw unreachable;
                }
                finally
                {
                    await connection.DisposeAsync();
                }
            },
            (ConnectionString: _connectionString, Work: work),
            cancellationToken);

    public override async Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((MySqlConnection)connection).BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);

    public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((MySqlConnection)connection).BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

    // Clustered by (session_id, id): one range per session, in msgId order.
    public override string Messages(MessageQuery q) => $"SELECT m.id{q.Columns} FROM message m WHERE m.session_id {q.Sessions}{q.Conditions("m.id")}{q.Ending("m.id")}";

    public override string? Word(StoreQuery query) => query switch
    {
        // One statement, atomic on the row: LAST_INSERT_ID(expr) keeps the old value for this
        // connection alone. A block that would pass 2^53 matches no row and takes nothing.
        StoreQuery.ReserveIds => """
            UPDATE id_block SET next_id = LAST_INSERT_ID(next_id) + @count WHERE kind = @kind AND next_id + @count <= @limit;
            SELECT ROW_COUNT(), LAST_INSERT_ID();
            """,
        StoreQuery.DeleteMessages => $"DELETE FROM message WHERE id IN ({StoreQueries.Ids});",
        _ => null,
    };

    public override Task CheckAsync(DbCommand command, CancellationToken cancellationToken) => command.PrepareAsync(cancellationToken);

    public override ValueTask DisposeAsync()
    {
        MySqlConnection.ClearPool(new MySqlConnection(_connectionString));
        _turns.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The store's failure for an exception that says the database could not be reached (a
    /// connection that never opened or died, a command that timed out); null for any other.
    /// </summary>
    internal static StoreUnavailableException? Unreachable(Exception ex, MySqlConnection connection) => ex switch
    {
        OperationCanceledException or StoreUnavailableException => null,
        MySqlException { ErrorCode: MySqlErrorCode.CommandTimeoutExpired } => new StoreUnavailableException("The database did not answer in time.", ex),
        _ when connection.State != ConnectionState.Open => new StoreUnavailableException("The database could not be reached.", SafeInner(ex)),
        _ => null,
    };

    /// <summary>
    /// An exception to keep inside a store failure: a server's error text may quote the statement's
    /// values (a duplicate key names the requestId), so a server error is kept as its number only.
    /// </summary>
    internal static Exception? SafeInner(Exception ex) =>
        ex is MySqlException { ErrorCode: var code } && IsServerError(code) ? new MySqlErrorKind(code) : ex;

    private static bool IsServerError(MySqlErrorCode code) => (int)code is (>= 1000 and < 2000) or >= 3000;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Migration: {Message}")]
        public static partial void Migration(ILogger logger, string message);
    }
}

/// <summary>A MariaDB server error, by its number and name alone (its text is not kept: it may quote client data).</summary>
[GenerateSerializer]
internal sealed class MySqlErrorKind(MySqlErrorCode code) : Exception($"MariaDB error {(int)code} ({code}).");
