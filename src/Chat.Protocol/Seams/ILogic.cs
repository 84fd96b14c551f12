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

    /// <summary>
    /// The socket of <paramref name="endpoint"/> takes the account back with its token. <paramref name="address"/>
    /// is the socket's (<see cref="ClientAddresses.KeyOf"/>), for the limit on reconnects that name no
    /// account or the wrong token (null: not counted).
    /// </summary>
    ValueTask<ReconnectResult> ReconnectAsync(ulong accountId, string token, ClientEndpoint endpoint, string? address, CancellationToken cancellationToken);

    /// <summary>The socket of <paramref name="endpoint"/> is gone; <paramref name="how"/> says whether the client meant it.</summary>
    ValueTask LogoutAsync(ulong accountId, ClientEndpoint endpoint, LeaveKind how, CancellationToken cancellationToken);

    /// <summary>After RECONNECT_RESP: push what the account missed, in order, then resume live delivery.</summary>
    ValueTask ResumeAsync(ulong accountId, ClientEndpoint endpoint, CancellationToken cancellationToken);

    /// <summary>
    /// How far clients received their messages: each report says the account's client received the
    /// session's messages up to its msgId (a mark only rises). Many in one call (a broker's regular
    /// report, or a socket's marks as it ends); completes once every one has been applied.
    /// </summary>
    ValueTask ConfirmDeliveredAsync(IReadOnlyList<DeliveryReport> reports, CancellationToken cancellationToken);

    /// <summary>
    /// Pairs the account or puts it in the waiting pool. <paramref name="address"/> is the socket's
    /// (<see cref="ClientAddresses.KeyOf"/>), for the limit on visitors waiting per address and the
    /// challenge of an account that takes new partners faster than a person would (null: neither);
    /// <paramref name="altcha"/> the client's solution of that challenge, if it sent one; <paramref name="wish"/>
    /// who the client would like to meet (its interests and language, as sent: logic folds and checks them).
    /// </summary>
    ValueTask<MatchResult> MatchAsync(ulong accountId, string? address, string? altcha, MatchWish wish, CancellationToken cancellationToken);

    ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, CancellationToken cancellationToken);

    ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken);

    ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken);

    ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken);

    ValueTask<ChatStats> GetStatsAsync(CancellationToken cancellationToken);

    // Per-address limits, counted in one place for the whole cluster. An address is the key
    // ClientAddresses.KeyOf makes of the socket's peer (IPv6: its /64).

    /// <summary>A socket from <paramref name="address"/> opened on <paramref name="broker"/>: admitted (and counted until <see cref="SocketClosedAsync"/>) or refused.</summary>
    ValueTask<Admission> AdmitSocketAsync(string address, string broker, CancellationToken cancellationToken);

    /// <summary>An admitted socket from <paramref name="address"/> on <paramref name="broker"/> closed.</summary>
    ValueTask SocketClosedAsync(string address, string broker, CancellationToken cancellationToken);

    /// <summary>
    /// The broker's regular report of the sockets it holds, per address: the counts are set to these
    /// (mending a close that was never heard of), and what a broker stops reporting (it died) expires.
    /// </summary>
    ValueTask ReportSocketsAsync(string broker, IReadOnlyList<HeldSockets> held, CancellationToken cancellationToken);

    /// <summary>
    /// Before CRT_ACCOUNT_REQ creates an account for a socket from <paramref name="address"/>: the
    /// address's budget of new accounts, and the proof of work once it is demanded (<paramref name="altcha"/>:
    /// the client's solution, if it sent one). Admitted, the account may be created.
    /// </summary>
    ValueTask<Admission> AdmitAccountAsync(string address, string? altcha, CancellationToken cancellationToken);

    // Moderation (ours).

    /// <summary>
    /// The account reports its partner in the session (active, or ended at most
    /// <c>Chat:Moderation:ReportableFor</c> ago): the session ends for both (the partner hears only
    /// PartnerExit), the two are not matched again, and the report is kept with the session's last
    /// messages. <paramref name="address"/> is the reporter's socket's, for the report.
    /// </summary>
    ValueTask<ReportResult> ReportAsync(ulong accountId, ulong sessionId, string reason, string? note, string? address, CancellationToken cancellationToken);

    /// <summary>The bans in force, or null when they are still those of <paramref name="knownVersion"/> (brokers ask about once a second).</summary>
    ValueTask<BanBook?> ReadBansAsync(long knownVersion, CancellationToken cancellationToken);
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
public readonly record struct ReconnectResult(ResultCode Code, ulong AccountId, string NickName, IReadOnlyList<SessionSummary> Sessions, int RetryAfterSeconds = 0, string? Message = null);

/// <param name="RetryAfter">With code 5 (a limit): seconds until MATCH_REQ may succeed.</param>
/// <param name="Challenge">With code 6: the challenge whose solution the next MATCH_REQ must carry.</param>
/// <param name="CommonInterests">With code 0: the interests both share, folded (empty: none).</param>
public readonly record struct MatchResult(
    ResultCode Code, ulong PartnerId = 0, string? PartnerName = null, ulong SessionId = 0, string? Message = null, int? RetryAfter = null, AltchaChallenge? Challenge = null,
    IReadOnlyList<string>? CommonInterests = null);

/// <summary>Who a visitor would like to meet, as its MATCH_REQ said (MATCH_REQ without these: anyone, as the seed matches).</summary>
/// <param name="Interests">Its interests as sent (null: none).</param>
/// <param name="Lang">Its language, a BCP 47 tag as sent (null: any).</param>
/// <param name="Fallback">False: never paired with someone who shares no interest, nor speaks another language.</param>
/// <param name="AfterLostAnswer">Set by a broker: it gave up waiting for the visitor's last MATCH_REQ, whose answer may have been a chat the visitor never heard of.</param>
public readonly record struct MatchWish(IReadOnlyList<string>? Interests = null, string? Lang = null, bool Fallback = true, bool AfterLostAnswer = false)
{
    public static MatchWish Anyone => new(null, null, true);
}

/// <param name="Owner">In a cluster, the logic node that holds the session (its gRPC address): the best node for the session's next message.</param>
public readonly record struct SendResult(ResultCode Code, ulong MsgId = 0, string? Message = null, string? Owner = null);

public readonly record struct ChatStats(int Online, int Waiting);

/// <summary>The account's client received the session's messages up to <see cref="MsgId"/>.</summary>
public readonly record struct DeliveryReport(ulong AccountId, ulong SessionId, ulong MsgId);

/// <summary>Sockets a broker holds from one address.</summary>
public readonly record struct HeldSockets(string Address, int Count);
