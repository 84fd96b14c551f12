// Owns: the seam between the one relational store and an engine. Everything an engine does its
// own way is here and nowhere else: how it connects and migrates, how it isolates a snapshot and
// a write, how it keeps messages (the SQL of that shape), the queries it words differently, and
// its batch writer. The reads and rules are written once, in RelationalChatStore and WriteRules.
using System.Data.Common;

namespace Chat.Logic.Storage.Relational;

internal abstract class ChatDialect : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema; returns how many migrations it applied now.</summary>
    public abstract Task<int> MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Where the store is, for the log (never a password).</summary>
    public abstract string Describe();

    /// <summary>
    /// Runs <paramref name="work"/> on a connection of its own. A database that cannot be reached
    /// ends in <see cref="StoreUnavailableException"/>, whatever the engine's own exception was.
    /// </summary>
    public abstract Task<T> RunAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>A transaction whose reads all see one snapshot.</summary>
    public abstract Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>A transaction for a small write beside the batch writer (an id block, retention): it waits for the writer's commit, never the other way round for long.</summary>
    public abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>The engine's batch writer on its one write connection; called once, after <see cref="MigrateAsync"/>.</summary>
    public abstract IBatchWriter OpenWriter();

    /// <summary>A query of messages as this engine keeps them (<see cref="MessageQuery"/>); its first column is the message id.</summary>
    public abstract string Messages(MessageQuery query);

    /// <summary>The text of a query this engine words its own way; null takes the shared text.</summary>
    public virtual string? Word(StoreQuery query) => null;

    /// <summary>Compiles <paramref name="command"/> against the schema without running it (the named queries are checked at start).</summary>
    public abstract Task CheckAsync(DbCommand command, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}

/// <summary>Commits batches on the store's one write connection. Not thread-safe: the store calls it under its lock.</summary>
internal interface IBatchWriter : IDisposable
{
    /// <summary>Commits <paramref name="batch"/> in one transaction and sets <c>outcomes[i]</c> for each write.</summary>
    void Write(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes);
}

internal enum MessageOrder
{
    /// <summary>Any order (retention: the engine stops at the limit without sorting).</summary>
    None,
    OldestFirst,
    NewestFirst,
}

/// <summary>
/// Messages of the sessions <see cref="Sessions"/> names (SQL after <c>session_id</c>, such as
/// <c>= @session</c>), with an id above <see cref="Above"/> (a parameter, or null), matching
/// <see cref="Where"/> (on columns of <c>m</c>, or null), in <see cref="Order"/>, at most
/// <see cref="Limit"/> (a parameter or number, or null). Selects <c>id</c> first, then <see cref="Columns"/>
/// (columns of <c>m</c>, each with a leading comma, or empty).
/// </summary>
internal readonly record struct MessageQuery(string Columns, string Sessions, string? Above = null, string? Where = null, MessageOrder Order = MessageOrder.None, string? Limit = null)
{
    /// <summary><c> AND</c> the id bound on <paramref name="id"/>, then <see cref="Where"/>; empty when there is neither.</summary>
    public string Conditions(string id) => (Above is null ? "" : $" AND {id} > {Above}") + (Where is null ? "" : $" AND {Where}");

    /// <summary>The ORDER BY (on <paramref name="id"/>) and LIMIT clauses, each with a leading space; empty when there is neither.</summary>
    public string Ending(string id) => Order switch
    {
        MessageOrder.OldestFirst => $" ORDER BY {id}",
        MessageOrder.NewestFirst => $" ORDER BY {id} DESC",
        _ => "",
    } + (Limit is null ? "" : $" LIMIT {Limit}");
}
