using System.ComponentModel.DataAnnotations;

namespace Chat.Logic.Storage;

internal sealed class StoreOptions
{
    public const string Section = "Chat:Store";

    /// <summary>
    /// <c>sqlite</c> (durable, one node, the default), <c>mariadb</c> (durable, shared by the nodes of a
    /// cluster; needs <see cref="ConnectionString"/>) or <c>memory</c> (nothing survives a restart).
    /// </summary>
    [Required]
    public string Kind { get; set; } = "sqlite";

    /// <summary>SQLite data file; its folder is created when missing.</summary>
    [Required]
    public string Path { get; set; } = "./data/chat.db";

    /// <summary>
    /// SQLite's <c>synchronous</c> setting. FULL: a committed message survives power loss.
    /// NORMAL: it survives a process crash, but the last commits may be lost on power loss.
    /// </summary>
    [RegularExpression("^(?i)(FULL|NORMAL)$")]
    public string Synchronous { get; set; } = "FULL";

    /// <summary>
    /// About how long new messages wait before the SQLite writer adds them to the index by session,
    /// in bulk, a sixteenth of the sessions at a time: a session's messages of one second then share
    /// a page write (docs/storage.md). Reads find the ones not indexed yet by scanning from the
    /// oldest of them.
    /// </summary>
    public TimeSpan IndexDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// MariaDB: <c>Server=…;Port=…;User=…;Password=…;Database=…</c> (MySqlConnector's keys). Never
    /// logged with its password. Pass it by environment variable (<c>Chat__Store__ConnectionString</c>)
    /// or in a file (<see cref="ConnectionStringFile"/>), not on the command line, where <c>ps</c> shows it.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>MariaDB: a file whose contents (trimmed) are the connection string; used when <see cref="ConnectionString"/> is empty.</summary>
    public string? ConnectionStringFile { get; set; }

    /// <summary>
    /// How long the messages of ended sessions, and accounts that are gone, are kept before they are
    /// deleted; zero keeps everything for ever.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often history older than <see cref="Retention"/> is looked for and deleted (in small transactions).</summary>
    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Most writes committed in one transaction.</summary>
    [Range(1, 100_000)]
    public int MaxBatch { get; set; } = 1024;

    /// <summary>
    /// MariaDB: most pooled connections a node uses at once for reads, id reservations and retention
    /// (the writer has its own connection). More wait their turn, for up to <see cref="QueueTimeout"/>,
    /// then are answered "busy, try again". Without this, a storm of account and session reads timed
    /// out in the driver's pool, which counts as "the database is unreachable" and opens the breaker
    /// for every caller, the writer's included.
    /// </summary>
    [Range(1, 1_000)]
    public int Connections { get; set; } = 32;

    /// <summary>MariaDB: how long a read may wait for one of the <see cref="Connections"/> before it is answered "busy".</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The MariaDB connection string: <see cref="ConnectionString"/>, else the contents of <see cref="ConnectionStringFile"/>; null if neither is set.</summary>
    public string? ResolveConnectionString()
    {
        if (!string.IsNullOrWhiteSpace(ConnectionString))
        {
            return ConnectionString;
        }

        return string.IsNullOrWhiteSpace(ConnectionStringFile) ? null : File.ReadAllText(ConnectionStringFile).Trim();
    }
}
