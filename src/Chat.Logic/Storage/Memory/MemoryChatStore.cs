// Owns: the memory store (Kind=memory): the SQLite store itself, on a database in this process's
// memory, so it keeps the one contract by the same code. Nothing survives the process.
using Chat.Logic.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage.Memory;

/// <summary>
/// A store that keeps everything in process memory: nothing survives a restart. For tests, for
/// measuring what durability costs, and for deployments that keep no history. SQLite on its memdb
/// VFS: no WAL, so readers and the writer take turns, and no file.
/// </summary>
internal sealed class MemoryChatStore : SqliteChatStore
{
    [ActivatorUtilitiesConstructor]
    public MemoryChatStore(IOptions<StoreOptions> options, TimeProvider time, ILogger<MemoryChatStore> logger)
        : base(new SqliteDialect(options.Value, SqliteDialect.InMemory(), time, logger), logger)
    {
    }

    /// <summary>A memory store with the default options, the system clock and no log (tests, a store outside DI).</summary>
    public MemoryChatStore()
        : this(Options.Create(new StoreOptions { Kind = "memory" }), TimeProvider.System, NullLogger<MemoryChatStore>.Instance)
    {
    }
}
