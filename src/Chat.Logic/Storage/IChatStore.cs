namespace Chat.Logic.Storage;

/// <summary>
/// Durable state of the chat, and the only truth grains rebuild from: one implementation per
/// engine. Writes arrive in batches from <see cref="StoreWriter"/> and commit all-or-nothing;
/// reads may run beside them. The contract every implementation keeps is
/// <c>tests/Chat.Tests/Storage/StoreContractTests.cs</c>.
/// </summary>
internal interface IChatStore : IAsyncDisposable
{
    /// <summary>The largest id the store hands out (exclusive): browsers read ids as doubles.</summary>
    public const ulong IdLimit = 1UL << 53;

    /// <summary>Creates or migrates the schema.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reserves <paramref name="count"/> ids of a kind for the caller alone and returns the first:
    /// blocks never overlap, whoever asks (two processes on one database included), and stay below
    /// <see cref="IdLimit"/>. Durable when it returns.
    /// </summary>
    Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken);

    /// <summary>Commits the batch in one transaction, in order; nothing of it if any write fails.</summary>
    Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken);

    Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken);

    /// <summary>A session, active or ended.</summary>
    Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken);

    /// <summary>A session with its members, last msgId, delivery marks and recent requestIds; null if there is none.</summary>
    Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken);

    /// <summary>The sessions of the account that have not ended.</summary>
    Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken);

    /// <summary>The waiting pool, longest waiting first.</summary>
    Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken);

    /// <summary>The members of every session that has not ended.</summary>
    Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken);

    /// <summary>Accounts away since <paramref name="awaySinceUnixMs"/> or earlier, longest away first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken);

    Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken);

    /// <summary>The brokers that hold some account's socket, as the accounts record them (the ones logic checks are alive).</summary>
    Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken);
    /// <summary>
    /// Deletes one small batch of history that ended before <paramref name="beforeUnixMs"/>: at most
    /// <paramref name="limit"/> messages of sessions ended by then, then sessions ended by then that
    /// have no message left (with their members, delivery and read marks), then accounts gone since
    /// then (no socket, not away, not waiting) that are in no session any more. Returns how many rows
    /// it deleted; fewer than <paramref name="limit"/> means nothing is left to delete for now.
    /// Added for retention (<c>Chat:Store:Retention</c>): the page promises no history, and this is the
    /// only delete the chat makes; each call is one short transaction, so the writer is never held up long.
    /// </summary>
    Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken);

    /// <summary>Messages of the session with an id above <paramref name="afterMsgId"/> not sent by <paramref name="receiverId"/>, oldest first.</summary>
    Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken);
}
