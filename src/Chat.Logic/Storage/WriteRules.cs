// Owns: the rules a write must keep and the words of each refusal, written once for every engine.
// An engine supplies the facts (what its store holds, including what the same batch stored before
// the write) and enforces the verdict inside the batch's transaction; it never words a refusal itself.
namespace Chat.Logic.Storage;

/// <summary>What a store holds, as a write of a batch is judged: committed data plus the batch's writes before it.</summary>
internal interface IStoreFacts
{
    bool AccountExists(ulong accountId);

    /// <summary>The session's last stored msgId (0 when it has none); false when there is no such session.</summary>
    bool TryGetLastMsgId(ulong sessionId, out ulong lastMsgId);

    /// <summary>The msgId the message's sender already stored under its requestId in its session (compared exactly), or 0.</summary>
    ulong StoredUnder(MessageRecord message);

    /// <summary>The account is in the waiting pool (this batch's writes so far included).</summary>
    bool IsWaiting(ulong accountId);

    /// <summary>The account's sessions not ended (this batch's writes so far included).</summary>
    int ActiveSessionsOf(ulong accountId);
}

/// <summary>
/// The rules: ids in 1 … 2^53 - 1 and not used before; a session of two different accounts that
/// exist; a message in a session that exists, above the last message stored in it, and stored once
/// per (session, sender, requestId), however long ago the first one was.
/// </summary>
internal static class WriteRules
{
    /// <summary>Refused when <paramref name="id"/> is 0 or 2^53 and above (browsers read ids as doubles).</summary>
    public static WriteOutcome? OutOfRange(string kind, ulong id) =>
        id is 0 or >= IChatStore.IdLimit ? WriteOutcome.RefusedFor($"{kind} id {id} is out of range") : null;

    /// <summary>The refusal of an id a row of its kind has already (the engine's unique key finds it).</summary>
    public static WriteOutcome IdUsed(string kind, ulong id) => WriteOutcome.RefusedFor($"{kind} id {id} is used already");

    /// <summary>The refusal of a text longer than an engine's column can keep (MariaDB's columns have sizes; SQLite's do not).</summary>
    public static WriteOutcome TooLong(string what, ulong id, int most, string unit) => WriteOutcome.RefusedFor($"the {what} of {id} is longer than the store keeps ({most} {unit})");

    public static WriteOutcome? RefuseSession<TFacts>(StoreWrite.NewSession write, TFacts facts)
        where TFacts : IStoreFacts
    {
        var session = write.Session;
        if (OutOfRange("session", session.Id) is { } refused)
        {
            return refused;
        }

        if (session.FirstAccountId == session.SecondAccountId || !facts.AccountExists(session.FirstAccountId) || !facts.AccountExists(session.SecondAccountId))
        {
            return WriteOutcome.RefusedFor($"session {session.Id} needs two different accounts that exist");
        }

        // The fence against a visitor paired twice (a matchmaker shard and a stale copy of it, on a
        // silo declared dead that has not stopped yet, both pairing it): a pairing takes its waiting
        // accounts out of the pool, and is refused if another pairing took one first.
        foreach (var claimed in write.Claims)
        {
            if (!facts.IsWaiting(claimed))
            {
                return WriteOutcome.RefusedFor($"session {session.Id}: account {claimed} is no longer waiting", claimed);
            }
        }

        if (write.MaxSessions > 0)
        {
            foreach (var member in (ReadOnlySpan<ulong>)[session.FirstAccountId, session.SecondAccountId])
            {
                if (facts.ActiveSessionsOf(member) >= write.MaxSessions)
                {
                    return WriteOutcome.RefusedFor($"session {session.Id}: account {member} has {write.MaxSessions} active sessions already", member);
                }
            }
        }

        return null;
    }

    /// <summary>
    /// A message's outcome, in this order: an id out of range, no such session, not above the last
    /// message stored in the session (refused); its sender's requestId already stored in the session
    /// (already stored, with the first message's id); otherwise it may be stored (a used id is then
    /// still refused by the engine's unique key, <see cref="IdUsed"/>).
    /// </summary>
    public static WriteOutcome JudgeMessage<TFacts>(MessageRecord message, TFacts facts)
        where TFacts : IStoreFacts
    {
        if (OutOfRange("message", message.Id) is { } refused)
        {
            return refused;
        }

        if (!facts.TryGetLastMsgId(message.SessionId, out var last))
        {
            return WriteOutcome.RefusedFor($"message {message.Id}: there is no session {message.SessionId}");
        }

        if (message.Id <= last)
        {
            return WriteOutcome.RefusedFor($"message {message.Id} is not above the last of session {message.SessionId} ({last})");
        }

        var first = facts.StoredUnder(message);
        return first == 0 ? WriteOutcome.Stored : WriteOutcome.AlreadyStoredAs(first);
    }
}
