using Chat.Logic.Storage;
using Chat.Protocol.Seams;

namespace Chat.Logic.Sessions;

/// <summary>One member of a session as its grain holds it: where its socket is, how far messages reached it, what waits to be pushed.</summary>
internal sealed class SessionMember(MemberState state)
{
    public ulong Id { get; } = state.Account.Id;

    public string NickName { get; } = state.Account.NickName;

    /// <summary>The member's socket; null while it has none.</summary>
    public ClientEndpoint? Endpoint { get; set; } = state.Account.Endpoint;

    /// <summary>The socket was lost and the grace period runs.</summary>
    public bool Away { get; set; } = state.Account.AwaySinceUnixMs is not null;

    /// <summary>Highest msgId known to have reached the client.</summary>
    public ulong DeliveredUpTo { get; set; } = state.DeliveredUpTo;

    /// <summary>Highest msgId of its partner's this member said it has read (VIEWED_ACK).</summary>
    public ulong ViewedUpTo { get; set; } = state.ViewedUpTo;

    /// <summary>Highest msgId pushed to the current socket.</summary>
    public ulong PushedUpTo { get; set; } = state.DeliveredUpTo;

    /// <summary>A new socket has not had its replay yet: pushes wait.</summary>
    public bool Resuming { get; set; }

    /// <summary>When this member's last typing signal was relayed (TimeProvider timestamp).</summary>
    public long TypingAt { get; set; }

    /// <summary>Pushes to this member in the order they happened; a message waits here until it is committed.</summary>
    public Queue<Outgoing> Outbox { get; } = new();

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

/// <summary>A push waiting its turn: a message (with its commit) or a signal.</summary>
internal readonly record struct Outgoing(MessageRecord? Message, Task<WriteOutcome>? Committed, SignalPush? Signal);
