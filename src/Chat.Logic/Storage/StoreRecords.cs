// Owns: the values that cross the store's seam (records read back, writes queued, a write's
// outcome) and the few exceptions a store call may end in. No behaviour beyond the shapes.
using Chat.Protocol.Seams;

namespace Chat.Logic.Storage;

/// <param name="Endpoint">Where the account's socket is; null while it has none.</param>
/// <param name="AwaySinceUnixMs">Set while the account's socket is lost and its sessions wait for it (the grace period).</param>
internal sealed record AccountRecord(ulong Id, string NickName, byte[] TokenHash, long CreatedAtUnixMs, ClientEndpoint? Endpoint = null, long? AwaySinceUnixMs = null);

internal sealed record SessionRecord(ulong Id, ulong FirstAccountId, ulong SecondAccountId, long CreatedAtUnixMs, long? EndedAtUnixMs = null);

internal sealed record MessageRecord(ulong Id, ulong SessionId, ulong SenderId, string RequestId, string Content, long CreatedAtUnixMs);

/// <summary>What a session grain rebuilds itself from: the session, its members and where its messages stand.</summary>
/// <param name="First">The member with the smaller account id.</param>
internal sealed record SessionState(SessionRecord Session, ulong LastMsgId, MemberState First, MemberState Second);

/// <summary>
/// One member of a session: its account, how far messages to it were delivered and how far it has
/// read its partner's, and its last requestIds in the session (oldest first, at most
/// <see cref="RecentRequestLimit"/>) for the grain's cache of retries.
/// </summary>
internal sealed record MemberState(AccountRecord Account, ulong DeliveredUpTo, IReadOnlyList<SentRequest> RecentRequests, ulong ViewedUpTo = 0)
{
    public const int RecentRequestLimit = Sessions.RecentRequests.Capacity;
}

/// <summary>The message a sender stored under a requestId.</summary>
internal readonly record struct SentRequest(string RequestId, ulong MsgId);

/// <summary>A visitor in the waiting pool, since when (Unix ms), and who it would like to meet (<see cref="Matching.WaitingVisitor.Profile"/>; null: anyone).</summary>
internal readonly record struct WaitingEntry(ulong AccountId, long SinceUnixMs, string? Profile = null);

/// <summary>Two accounts in an active session, the smaller id first.</summary>
internal readonly record struct ActivePair(ulong First, ulong Second);

/// <summary>Live totals: accounts with a socket, visitors waiting, sessions not ended.</summary>
internal readonly record struct ChatCounts(int Online, int Waiting, int ActiveSessions);

/// <summary>The ids the store hands out in blocks (<see cref="IChatStore.ReserveIdsAsync"/>).</summary>
internal enum IdKind
{
    Account,
    Session,
    Message,
}

internal static class IdKinds
{
    /// <summary>The kind's row in every store's id-block table.</summary>
    public static string StoredName(this IdKind kind) => kind switch
    {
        IdKind.Account => "account",
        IdKind.Session => "session",
        IdKind.Message => "message",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>
/// One change to the store. A batch of them commits in one transaction (group commit). Each kind
/// hands itself to the engine's <see cref="IStoreWriteTarget"/>, so a new kind of write is a
/// compile error in every engine, not a runtime surprise.
/// </summary>
internal abstract record StoreWrite
{
    /// <summary>Applies this write through the engine's method for its kind; returns its outcome.</summary>
    internal abstract WriteOutcome ApplyTo(IStoreWriteTarget target);

    /// <summary>
    /// False for a write whose loss in a power cut costs no message: a delivery mark (a replay
    /// sends again what the mark had passed; clients drop a msgId they have) or a read mark (a read
    /// receipt shown again). An engine may commit a batch of only those without waiting for the disk;
    /// it is still atomic and in order, and the next durable commit makes it durable too.
    /// </summary>
    internal virtual bool MustBeDurable => true;

    /// <summary>A new account, bound to the socket it was created on. Refused if its id is used or out of range.</summary>
    public sealed record NewAccount(AccountRecord Account) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.NewAccount(this);
    }

    /// <summary>The account's socket is now <see cref="Endpoint"/>; it is no longer away.</summary>
    public sealed record AccountBound(ulong AccountId, ClientEndpoint Endpoint) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.AccountBound(this);
    }

    /// <summary>
    /// The account has no socket since <paramref name="AtUnixMs"/>; away since then (its grace period
    /// runs), or not away (null). Retention counts how long an account has been gone from <paramref name="AtUnixMs"/>.
    /// </summary>
    public sealed record AccountUnbound(ulong AccountId, long? AwaySinceUnixMs, long AtUnixMs) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.AccountUnbound(this);
    }

    /// <summary>
    /// The account's broker fell silent (cut off, or dead: logic cannot tell): the account is away from
    /// <paramref name="AwaySinceUnixMs"/> (unless it was already) and keeps its binding, so that the broker, if it comes
    /// back with the socket, reclaims it; a reconnect elsewhere rebinds it, and the grace period runs meanwhile.
    /// </summary>
    public sealed record AccountAway(ulong AccountId, long AwaySinceUnixMs) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.AccountAway(this);
    }

    /// <summary>
    /// A broker went away with its sockets (or restarted): every account bound to it loses its
    /// socket and leaves the waiting pool; those in active sessions are away from then on. A
    /// restarted broker names its own start (<see cref="KeepIncarnation"/>, the incarnation its
    /// bindings carry, <see cref="ClientEndpoint.Incarnation"/>): sockets of that start are kept, so the order of the release and the first
    /// new sockets does not matter. 0 releases every socket of the broker.
    /// </summary>
    public sealed record BrokerGone(string Broker, long AtUnixMs, long KeepIncarnation = 0) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.BrokerGone(this);
    }

    /// <summary>
    /// A new session of two different accounts that exist. Refused if its id is used or out of range;
    /// if one of <see cref="Claims"/> (accounts the pairing takes out of the waiting pool with it) is not
    /// waiting, since another pairing took it; or, with <see cref="MaxSessions"/> above 0, if a member
    /// has that many sessions not ended. A refused pairing changes nothing.
    /// </summary>
    public sealed record NewSession(SessionRecord Session, IReadOnlyList<ulong> Claims, int MaxSessions = 0) : StoreWrite
    {
        /// <summary>A session nobody claims for (tests, imports): no waiting account taken, no cap.</summary>
        public NewSession(SessionRecord session)
            : this(session, [])
        {
        }

        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.NewSession(this);
    }

    /// <summary>The session ended then, unless it had ended already (the first end time stays).</summary>
    public sealed record SessionEnded(ulong SessionId, long EndedAtUnixMs) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.SessionEnded(this);
    }

    /// <summary>A message: stored, already stored under its sender's requestId, or refused (<see cref="WriteRules.JudgeMessage"/>).</summary>
    public sealed record NewMessage(MessageRecord Message) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.NewMessage(this);
    }

    /// <summary>Raise the reader's read-up-to mark; never lowers it.</summary>
    public sealed record ViewedUpTo(ulong SessionId, ulong AccountId, ulong MsgId, long AtUnixMs) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.ViewedUpTo(this);

        internal override bool MustBeDurable => false;
    }

    /// <summary>Raise the receiver's delivered-up-to mark; never lowers it.</summary>
    public sealed record DeliveredUpTo(ulong SessionId, ulong AccountId, ulong MsgId) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.DeliveredUpTo(this);

        internal override bool MustBeDurable => false;
    }

    /// <summary>The account waits for a partner since then, wishing <paramref name="Profile"/> (null: anyone); an account already waiting keeps its first entry.</summary>
    public sealed record WaitingAdded(ulong AccountId, long SinceUnixMs, string? Profile = null) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.WaitingAdded(this);
    }

    public sealed record WaitingRemoved(ulong AccountId) : StoreWrite
    {
        internal override WriteOutcome ApplyTo(IStoreWriteTarget target) => target.WaitingRemoved(this);
    }
}

/// <summary>What an engine does with each kind of <see cref="StoreWrite"/>, inside the batch's transaction.</summary>
internal interface IStoreWriteTarget
{
    WriteOutcome NewAccount(StoreWrite.NewAccount write);

    WriteOutcome AccountBound(StoreWrite.AccountBound write);

    WriteOutcome AccountUnbound(StoreWrite.AccountUnbound write);

    WriteOutcome AccountAway(StoreWrite.AccountAway write);

    WriteOutcome BrokerGone(StoreWrite.BrokerGone write);

    WriteOutcome NewSession(StoreWrite.NewSession write);

    WriteOutcome SessionEnded(StoreWrite.SessionEnded write);

    WriteOutcome NewMessage(StoreWrite.NewMessage write);

    WriteOutcome ViewedUpTo(StoreWrite.ViewedUpTo write);

    WriteOutcome DeliveredUpTo(StoreWrite.DeliveredUpTo write);

    WriteOutcome WaitingAdded(StoreWrite.WaitingAdded write);

    WriteOutcome WaitingRemoved(StoreWrite.WaitingRemoved write);
}

/// <summary>What became of one write: stored, stored already by an earlier attempt, or refused.</summary>
internal enum WriteResult
{
    /// <summary>Committed now.</summary>
    Stored,

    /// <summary>Its sender stored a message under the same requestId in the session before: <see cref="WriteOutcome.MsgId"/> is that one's id; nothing new was stored.</summary>
    AlreadyStored,

    /// <summary>The write itself is wrong (an id out of range, used or not above its session's last, a session that does not exist): <see cref="WriteOutcome.Reason"/> says why; nothing of it was stored.</summary>
    Refused,
}

/// <summary>
/// The outcome of one write, a value the caller switches on (expected outcomes are results, not
/// exceptions). A store that cannot be reached is not an outcome: the batch's task fails.
/// </summary>
/// <param name="Reason">Why a write was refused, in the store's own words with ids only: never a database's error text, which may quote client data.</param>
/// <param name="AccountId">With a refused pairing: the account that made it fail (no longer waiting, or at its cap); 0 otherwise.</param>
internal readonly record struct WriteOutcome(WriteResult Result, ulong MsgId = 0, string? Reason = null, ulong AccountId = 0)
{
    public static WriteOutcome Stored { get; } = new(WriteResult.Stored);

    public static WriteOutcome AlreadyStoredAs(ulong msgId) => new(WriteResult.AlreadyStored, msgId);

    public static WriteOutcome RefusedFor(string reason, ulong accountId = 0) => new(WriteResult.Refused, Reason: reason, AccountId: accountId);
}

/// <summary>
/// A call the store refuses: an id block past 2^53, or (from <see cref="StoreWriter.WriteAsync"/>) a
/// write other than a message that the store refused, which for those is a bug. Only a refusal
/// says the request itself is wrong; any other failure says nothing about it.
/// </summary>
[GenerateSerializer]
internal sealed class StoreRefusedException(string message) : Exception(message);

/// <summary>
/// The store failed the call: it cannot be reached (connection refused or lost, a timeout), its
/// breaker is open, or the database failed the transaction; nothing is known about the writes.
/// </summary>
/// <param name="unreachable">The database could not be reached: this is what the store's breaker counts (<see cref="StoreResilience"/>).</param>
[GenerateSerializer]
internal sealed class StoreUnavailableException(string message, Exception? inner = null, bool unreachable = true) : Exception(message, inner)
{
    [Id(0)]
    public bool Unreachable { get; } = unreachable;
}
