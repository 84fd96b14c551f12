using Chat.Protocol.Frames;

namespace Chat.Protocol.Seams;

/// <summary>
/// What a broker asks of logic. The account id passed in is always the one the broker bound to the
/// socket, never one taken from a client frame. Implemented in-process (all-in-one) and over gRPC.
/// </summary>
public interface ILogic
{
    /// <summary>
    /// The broker at <paramref name="broker"/> (re)started: every socket it held before this start
    /// (<paramref name="incarnation"/>, the high 32 bits of its connection ids) is gone. Those
    /// accounts lose their binding and leave the waiting pool; those in sessions are away, so their
    /// grace period runs from now.
    /// </summary>
    ValueTask BrokerStartedAsync(string broker, long incarnation, CancellationToken cancellationToken);

    ValueTask<CreateAccountResult> CreateAccountAsync(string nickName, ClientEndpoint endpoint, CancellationToken cancellationToken);

    ValueTask<ReconnectResult> ReconnectAsync(ulong accountId, string token, ClientEndpoint endpoint, CancellationToken cancellationToken);

    /// <summary>The socket of <paramref name="endpoint"/> is gone; <paramref name="how"/> says whether the client meant it.</summary>
    ValueTask LogoutAsync(ulong accountId, ClientEndpoint endpoint, LeaveKind how, CancellationToken cancellationToken);

    /// <summary>After RECONNECT_RESP: push what the account missed, in order, then resume live delivery.</summary>
    ValueTask ResumeAsync(ulong accountId, ClientEndpoint endpoint, CancellationToken cancellationToken);

    /// <summary>Messages up to <paramref name="msgId"/> in the session reached the account's client.</summary>
    ValueTask ConfirmDeliveredAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken);

    ValueTask<MatchResult> MatchAsync(ulong accountId, CancellationToken cancellationToken);

    ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, CancellationToken cancellationToken);

    ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken);

    ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken);

    ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken);

    ValueTask<ChatStats> GetStatsAsync(CancellationToken cancellationToken);
}

public enum LeaveKind
{
    /// <summary>The client closed the socket with a close frame: it left on purpose.</summary>
    Closed,

    /// <summary>The socket dropped without a close frame, fell silent, or its broker went away.</summary>
    Lost,
}

public readonly record struct CreateAccountResult(ResultCode Code, ulong AccountId, string NickName, string Token, string? Message = null);

/// <param name="RetryAfterSeconds">With <see cref="ResultCode.RateLimited"/>: when the account may reconnect again.</param>
public readonly record struct ReconnectResult(ResultCode Code, ulong AccountId, string NickName, IReadOnlyList<SessionSummary> Sessions, int RetryAfterSeconds = 0);

public readonly record struct MatchResult(ResultCode Code, ulong PartnerId = 0, string? PartnerName = null, ulong SessionId = 0, string? Message = null);

/// <param name="Owner">In a cluster, the logic node that holds the session (its gRPC address): the best node for the session's next message.</param>
public readonly record struct SendResult(ResultCode Code, ulong MsgId = 0, string? Message = null, string? Owner = null);

public readonly record struct ChatStats(int Online, int Waiting);
