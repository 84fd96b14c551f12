// Owns: the one contract every store keeps, whatever its engine. tests/Chat.Tests/Storage/
// StoreContractTests.cs tests each guarantee stated here, at its edge, on every engine.
namespace Chat.Logic.Storage;

/// <summary>
/// Durable state of the chat, and the only truth grains rebuild from. One implementation over
/// relational engines (<see cref="Relational.RelationalChatStore"/>: SQLite and MariaDB; what differs
/// per engine is in its dialect) and a memory store on the same rules. Writes arrive in batches from
/// <see cref="StoreWriter"/>; reads may run beside them and never see half a batch.
/// </summary>
/// <remarks>
/// The guarantees, each in <c>StoreContractTests</c>:
/// <list type="bullet">
/// <item>A batch commits in one transaction, in order; each write gets its own outcome
/// (<see cref="WriteOutcome"/>): stored, already stored (a message whose sender stored its requestId
/// in the session before, with the first message's msgId), or refused with why. A refused or already
/// stored write leaves nothing of itself; it never fails or splits its batch. A store that cannot be
/// reached fails the whole call and says nothing about the writes.</item>
/// <item>The rules (<see cref="WriteRules"/>): ids in 1 … 2^53 - 1 and never used twice (a msgId not
/// even in another session); a session of two different accounts that exist; a message in a session
/// that exists and above the last message stored in it (ids need only rise per session); one message
/// per (session, sender, requestId), requestIds compared exactly (case, trailing spaces), for the
/// session's whole life: every earlier requestId of the session, after a restart too, no bound.</item>
/// <item>Marks (delivered-up-to, read-up-to) only rise. Ending a session twice keeps the first end
/// time. Adding a waiting account again keeps its first entry.</item>
/// <item>Reads return what was committed, in the orders each method states, with text exactly as
/// written.</item>
/// <item>Id blocks never overlap, whoever asks (two processes on one database included), survive a
/// restart, and stay below <see cref="IdLimit"/>.</item>
/// <item>Retention deletes only history that ended before its cutoff, in small transactions.</item>
/// </list>
/// </remarks>
internal interface IChatStore : IAsyncDisposable
{
    /// <summary>The largest id the store hands out (exclusive): browsers read ids as doubles.</summary>
    public const ulong IdLimit = 1UL << 53;

    /// <summary>Creates or migrates the schema and checks the engine's named queries against it; calling it again does nothing.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reserves <paramref name="count"/> ids of a kind for the caller alone and returns the first:
    /// blocks never overlap, whoever asks (two processes on one database included), and stay below
    /// <see cref="IdLimit"/> (a block that would pass it is refused with <see cref="StoreRefusedException"/>
    /// and takes nothing). Durable when it returns.
    /// </summary>
    Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken);

    /// <summary>
    /// Commits the batch in one transaction, in order, and sets <c>outcomes[i]</c> to what became of
    /// <c>batch[i]</c>. Refused and already stored writes leave nothing of themselves; the others commit.
    /// Throws only when the store cannot be reached or fails the transaction (nothing is known of the writes then).
    /// </summary>
    Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken);

    /// <summary>The account as last written; null if there is none.</summary>
    Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken);

    /// <summary>
    /// A session, active or ended, with its members (smaller account id first), its last msgId, each
    /// member's delivered-up-to and read-up-to marks, and each member's last
    /// <see cref="MemberState.RecentRequestLimit"/> requestIds oldest first; null if there is none. One snapshot.
    /// </summary>
    Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken);

    /// <summary>The sessions of the account that have not ended, by id.</summary>
    Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken);

    /// <summary>The waiting pool, longest waiting first, then by account id.</summary>
    Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken);

    /// <summary>The members of every session that has not ended, smaller id first.</summary>
    Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken);

    /// <summary>Accounts away since <paramref name="awaySinceUnixMs"/> or earlier, longest away first (then by id), at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken);

    /// <summary>Accounts with a socket, accounts waiting, sessions not ended.</summary>
    Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken);

    /// <summary>The brokers that hold some account's socket, once each, in ordinal order (the ones logic checks are alive).</summary>
    Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Deletes one small batch of history that ended before <paramref name="beforeUnixMs"/>: at most
    /// <paramref name="limit"/> messages of sessions ended by then, then (once none of those is left)
    /// sessions ended by then with their members, delivery and read marks, then accounts gone since
    /// then (no socket, not away, not waiting) that are in no session any more. Returns how many rows
    /// it deleted; fewer than <paramref name="limit"/> means nothing is left to delete for now. An
    /// active session, its messages and members are never touched. Each call is one short transaction.
    /// </summary>
    Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken);

    /// <summary>The msgId of the message <paramref name="senderId"/> stored in the session under <paramref name="requestId"/> (compared exactly), or null if there is none.</summary>
    Task<ulong?> FindMessageIdAsync(ulong sessionId, ulong senderId, string requestId, CancellationToken cancellationToken);

    /// <summary>Messages of the session with an id above <paramref name="afterMsgId"/> not sent by <paramref name="receiverId"/>, oldest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken);
}
