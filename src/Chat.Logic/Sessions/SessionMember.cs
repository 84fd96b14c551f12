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

    /// <summary>
    /// How many messages this member has stored in the session (what the links rule counts). Exact up to
    /// <see cref="RecentRequests.Capacity"/>: the store gives back at most that many requestIds, and a
    /// sender that had sent that many is past every first-messages rule.
    /// </summary>
    public int SentCount { get; set; } = state.RecentRequests.Count;

    /// <summary>A write of this member's may have been stored without this grain knowing (its commit's answer was lost).</summary>
    public bool LostAnswer { get; set; }

    /// <summary>
    /// Whether the store may hold a message of this member whose requestId <see cref="Sent"/> does not
    /// know: one older than its last <see cref="RecentRequests.Capacity"/>, or one whose commit's answer was lost.
    /// </summary>
    public bool MayHaveForgotten => LostAnswer || SentCount >= RecentRequests.Capacity;

    /// <summary>Requests of this member the filter refused lately, created on its first refusal.</summary>
    public RecentRefusals? Refused { get; set; }

    /// <summary>Messages of this member the filter is still judging (a webhook), by requestId; null while there are none.</summary>
    public Dictionary<string, Task<SendOutcome>>? Screening { get; set; }

    /// <summary>Done when this member's latest message under judgement has its id (or was refused): the next one waits for it, so ids keep the order of sending.</summary>
    public Task? ScreeningTail { get; set; }

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
