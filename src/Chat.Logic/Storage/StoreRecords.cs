using Chat.Protocol.Seams;

namespace Chat.Logic.Storage;

/// <param name="Endpoint">Where the account's socket is; null while it has none.</param>
/// <param name="AwaySinceUnixMs">Set while the account's socket is lost and its sessions wait for it (the grace period).</param>
internal sealed record AccountRecord(ulong Id, string NickName, byte[] TokenHash, long CreatedAtUnixMs, ClientEndpoint? Endpoint = null, long? AwaySinceUnixMs = null);

internal sealed record SessionRecord(ulong Id, ulong FirstAccountId, ulong SecondAccountId, long CreatedAtUnixMs, long? EndedAtUnixMs = null)
{
    public ulong PartnerOf(ulong accountId) => accountId == FirstAccountId ? SecondAccountId : FirstAccountId;

    public bool Has(ulong accountId) => accountId == FirstAccountId || accountId == SecondAccountId;
}

internal sealed record MessageRecord(ulong Id, ulong SessionId, ulong SenderId, string RequestId, string Content, long CreatedAtUnixMs);

/// <summary>What a session grain rebuilds itself from: the session, its members and where its messages stand.</summary>
/// <param name="First">The member with the smaller account id.</param>
internal sealed record SessionState(SessionRecord Session, ulong LastMsgId, MemberState First, MemberState Second);

/// <summary>
/// One member of a session: its account, how far messages to it were delivered, and its last
/// requestIds in the session (oldest first, at most <see cref="RecentRequestLimit"/>) so retries
/// are still recognised when the session's grain is rebuilt.
/// </summary>
internal sealed record MemberState(AccountRecord Account, ulong DeliveredUpTo, IReadOnlyList<SentRequest> RecentRequests)
{
    public const int RecentRequestLimit = Sessions.RecentRequests.Capacity;
}

/// <summary>The message a sender stored under a requestId.</summary>
internal readonly record struct SentRequest(string RequestId, ulong MsgId);

/// <summary>A visitor in the waiting pool, since when (Unix ms).</summary>
internal readonly record struct WaitingEntry(ulong AccountId, long SinceUnixMs);

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

/// <summary>One change to the store. A batch of them commits in one transaction (group commit).</summary>
internal abstract record StoreWrite
{
    /// <summary>A new account, bound to the socket it was created on.</summary>
    public sealed record NewAccount(AccountRecord Account) : StoreWrite;

    /// <summary>The account's socket is now <see cref="Endpoint"/>; it is no longer away.</summary>
    public sealed record AccountBound(ulong AccountId, ClientEndpoint Endpoint) : StoreWrite;

    /// <summary>
    /// The account has no socket since <paramref name="AtUnixMs"/>; away since then (its grace period
    /// runs), or not away (null). Retention counts how long an account has been gone from <paramref name="AtUnixMs"/>.
    /// </summary>
    public sealed record AccountUnbound(ulong AccountId, long? AwaySinceUnixMs, long AtUnixMs) : StoreWrite;

    /// <summary>
    /// A broker went away with its sockets (or restarted): every account bound to it loses its
    /// socket and leaves the waiting pool; those in active sessions are away from then on. A
    /// restarted broker names its own start (<see cref="KeepIncarnation"/>, the high 32 bits of its
    /// connection ids): sockets of that start are kept, so the order of the release and the first
    /// new sockets does not matter. 0 releases every socket of the broker.
    /// </summary>
    public sealed record BrokerGone(string Broker, long AtUnixMs, long KeepIncarnation = 0) : StoreWrite;

    public sealed record NewSession(SessionRecord Session) : StoreWrite;

    public sealed record SessionEnded(ulong SessionId, long EndedAtUnixMs) : StoreWrite;

    /// <summary>
    /// A message; refused unless its id is above every id already stored in its session, and refused
    /// with <see cref="AlreadyStoredException"/> when its sender already stored a message under its
    /// requestId in the session.
    /// </summary>
    public sealed record NewMessage(MessageRecord Message) : StoreWrite;

    /// <summary>Raise the reader's read-up-to mark; never lowers it.</summary>
    public sealed record ViewedUpTo(ulong SessionId, ulong AccountId, ulong MsgId, long AtUnixMs) : StoreWrite;

    /// <summary>Raise the receiver's delivered-up-to mark; never lowers it.</summary>
    public sealed record DeliveredUpTo(ulong SessionId, ulong AccountId, ulong MsgId) : StoreWrite;

    public sealed record WaitingAdded(ulong AccountId, long SinceUnixMs) : StoreWrite;

    public sealed record WaitingRemoved(ulong AccountId) : StoreWrite;
}

/// <summary>What became of one message write: stored, stored already by an earlier attempt, or refused.</summary>
internal enum WriteResult
{
    /// <summary>Committed now.</summary>
    Stored,

    /// <summary>Its sender stored a message under the same requestId in the session before: <see cref="WriteOutcome.MsgId"/> is that one's id; nothing new was stored.</summary>
    AlreadyStored,

    /// <summary>The write itself is wrong (an id out of range or not above its session's last, a session that does not exist): <see cref="WriteOutcome.Reason"/> says why; nothing was stored.</summary>
    Refused,
}

/// <summary>
/// The outcome of a message write, a value the caller switches on (expected outcomes are results,
/// not exceptions). A store that cannot be reached is not an outcome: the write's task fails.
/// </summary>
internal readonly record struct WriteOutcome(WriteResult Result, ulong MsgId = 0, string? Reason = null)
{
    public static WriteOutcome Stored { get; } = new(WriteResult.Stored);

    public static WriteOutcome AlreadyStoredAs(ulong msgId) => new(WriteResult.AlreadyStored, msgId);

    public static WriteOutcome RefusedFor(string reason) => new(WriteResult.Refused, Reason: reason);
}

/// <summary>
/// A write the store refuses: a duplicate id, a message id at or below its session's last, an id out
/// of range. Only a refusal says the write itself is wrong; any other failure of a store call (a lost
/// connection, a timeout, an open breaker) says nothing about the write.
/// </summary>
internal class StoreRefusedException(string message) : Exception(message);

/// <summary>
/// A message refused because its sender already stored one under the same requestId in the session:
/// <paramref name="MsgId"/> is the first one's id. A retry after a commit whose outcome was unknown
/// (the connection died during COMMIT) ends here, so the message is never stored twice.
/// </summary>
internal sealed class AlreadyStoredException(ulong msgId)
    : StoreRefusedException($"The sender already stored this requestId in the session as message {msgId}.")
{
    public ulong MsgId { get; } = msgId;
}

/// <summary>The store cannot be reached (connection refused or lost, a timeout, or its breaker is open); nothing is known about the write.</summary>
internal sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
