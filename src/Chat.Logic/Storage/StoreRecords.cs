namespace Chat.Logic.Storage;

public sealed record AccountRecord(ulong Id, string NickName, byte[] TokenHash, long CreatedAtUnixMs);

public sealed record SessionRecord(ulong Id, ulong FirstAccountId, ulong SecondAccountId, long CreatedAtUnixMs, long? EndedAtUnixMs = null)
{
    public ulong PartnerOf(ulong accountId) => accountId == FirstAccountId ? SecondAccountId : FirstAccountId;
}

public sealed record MessageRecord(ulong Id, ulong SessionId, ulong SenderId, string RequestId, string Content, long CreatedAtUnixMs);

/// <summary>The highest ids in the store, so ids handed out after a restart continue above them.</summary>
public readonly record struct StoreHighWater(ulong AccountId, ulong SessionId, ulong MessageId);

/// <summary>One change to the store. A batch of them commits in one transaction (group commit).</summary>
public abstract record StoreWrite
{
    public sealed record NewAccount(AccountRecord Account) : StoreWrite;

    public sealed record NewSession(SessionRecord Session) : StoreWrite;

    public sealed record SessionEnded(ulong SessionId, long EndedAtUnixMs) : StoreWrite;

    public sealed record NewMessage(MessageRecord Message) : StoreWrite;

    /// <summary>Raise the reader's read-up-to mark; never lowers it.</summary>
    public sealed record ViewedUpTo(ulong SessionId, ulong AccountId, ulong MsgId, long AtUnixMs) : StoreWrite;

    /// <summary>Raise the receiver's delivered-up-to mark; never lowers it.</summary>
    public sealed record DeliveredUpTo(ulong SessionId, ulong AccountId, ulong MsgId) : StoreWrite;
}

/// <summary>
/// An active session as the store has it, with its message and delivery marks, and each member's
/// last requestIds in it (oldest first, at most <see cref="RecentRequestLimit"/> per sender) so retries are still recognised after a restart.
/// </summary>
public sealed record ActiveSessionState(SessionRecord Session, ulong LastMsgId, ulong FirstDeliveredUpTo, ulong SecondDeliveredUpTo, IReadOnlyList<SentRequest> RecentRequests)
{
    /// <summary>As many as logic keeps per sender (<see cref="Accounts.RecentRequests.Capacity"/>).</summary>
    public const int RecentRequestLimit = Accounts.RecentRequests.Capacity;
}

/// <summary>The message a sender stored under a requestId.</summary>
public readonly record struct SentRequest(ulong SenderId, string RequestId, ulong MsgId);

public sealed record ActiveState(IReadOnlyList<ActiveSessionState> Sessions, IReadOnlyList<AccountRecord> Accounts);
