using System.ComponentModel.DataAnnotations;

namespace Chat.Logic.Storage;

internal sealed class StoreOptions
{
    public const string Section = "Chat:Store";

    /// <summary><c>sqlite</c> (durable, the default) or <c>memory</c> (nothing survives a restart).</summary>
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

    /// <summary>Most writes committed in one transaction.</summary>
    [Range(1, 100_000)]
    public int MaxBatch { get; set; } = 1024;
}
