using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;

namespace Chat.Relay;

public sealed class Member(ulong id, string nickName, string token)
{
    public ulong Id => id;
    public string NickName => nickName;
    public string Token => token;

    /// <summary>The nickname as it goes into a JSON string (escaped UTF-8, no quotes), made once.</summary>
    public byte[] NickNameJson { get; } = JsonEncodedText.Encode(nickName).EncodedUtf8Bytes.ToArray();

    public byte[] TokenUtf8 { get; } = System.Text.Encoding.ASCII.GetBytes(token);

    public volatile RelayConnection? Connection;

    /// <summary>Its place in the waiting line (guarded by the lobby's lock).</summary>
    public LinkedListNode<Member>? Waiting;
}

public sealed class RelaySession(ulong id, Member a, Member b)
{
    private long lastMsgId;

    public ulong Id => id;

    public Member? PartnerOf(ulong accountId) => a.Id == accountId ? b : b.Id == accountId ? a : null;

    public ulong NextMsgId() => (ulong)Interlocked.Increment(ref lastMsgId);
}

/// <summary>Accounts, the waiting line and sessions, all in memory.</summary>
public sealed class Lobby
{
    private readonly ConcurrentDictionary<ulong, Member> members = new();
    private readonly ConcurrentDictionary<ulong, RelaySession> sessions = new();
    private readonly LinkedList<Member> waiting = new();
    private readonly Lock waitingLock = new();
    private long lastAccountId;
    private long lastSessionId;

    public Member CreateAccount(string nickName)
    {
        var member = new Member((ulong)Interlocked.Increment(ref lastAccountId), nickName, Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)));
        members[member.Id] = member;
        return member;
    }

    public Member? Find(ulong accountId, string token) =>
        members.TryGetValue(accountId, out var m) && m.Token == token ? m : null;

    public RelaySession? FindSession(ulong sessionId) => sessions.GetValueOrDefault(sessionId);

    /// <summary>Pairs <paramref name="caller"/> with whoever waited longest, or puts it in line (null).</summary>
    public (RelaySession Session, Member Partner)? Match(Member caller)
    {
        Member partner;
        lock (waitingLock)
        {
            if (caller.Waiting is not null)
            {
                return null; // keeps its place
            }

            var first = waiting.First;
            while (first is not null && first.Value.Connection is null)
            {
                first.Value.Waiting = null;
                waiting.RemoveFirst();
                first = waiting.First;
            }

            if (first is null)
            {
                caller.Waiting = waiting.AddLast(caller);
                return null;
            }

            partner = first.Value;
            partner.Waiting = null;
            waiting.RemoveFirst();
        }

        var session = new RelaySession((ulong)Interlocked.Increment(ref lastSessionId), partner, caller);
        sessions[session.Id] = session;
        return (session, partner);
    }

    public void Leave(Member member)
    {
        lock (waitingLock)
        {
            if (member.Waiting is { } node)
            {
                waiting.Remove(node);
                member.Waiting = null;
            }
        }
    }
}
