using Chat.Logic.Storage;
using Chat.Protocol.Seams;

namespace Chat.Logic.Sessions;

/// <summary>One member of a session as its grain holds it: who it is, whether it is away, its typing pace, its recent requestIds, and its outbox (where its socket is and what reaches it).</summary>
internal sealed class SessionMember(MemberState state, MemberOutbox outbox)
{
    public ulong Id { get; } = state.Account.Id;

    public string NickName { get; } = state.Account.NickName;

    /// <summary>Every push to this member, and its socket and delivery marks.</summary>
    public MemberOutbox Outbox { get; } = outbox;

    /// <summary>The member's socket; null while it has none.</summary>
    public ClientEndpoint? Endpoint => Outbox.Endpoint;

    /// <summary>The socket was lost and the grace period runs.</summary>
    public bool Away { get; set; } = state.Account.AwaySinceUnixMs is not null;

    /// <summary>Highest msgId of its partner's this member said it has read (VIEWED_ACK).</summary>
    public ulong ViewedUpTo { get; set; } = state.ViewedUpTo;

    /// <summary>When this member's last typing signal was relayed (TimeProvider timestamp).</summary>
    public long TypingAt { get; set; }

    /// <summary>This member's recent requestIds, created on its first message.</summary>
    public RecentRequests? Sent { get; set; } = Restore(state.RecentRequests);

    private static RecentRequests? Restore(IReadOnlyList<SentRequest> sent)
    {
        if (sent.Count == 0)
        {
            return null;
        }

        var recent = new RecentRequests();
        foreach (var request in sent)
        {
            recent.Add(request.RequestId, request.MsgId, committing: null);
        }

        return recent;
    }
}
