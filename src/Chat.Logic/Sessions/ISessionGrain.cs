using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Logic.Sessions;

/// <summary>
/// One session (key: its id): its two members, its messages' order and ids, and the one ordered
/// path every push about it takes, so a receiver sees them in the order they happened (a
/// PartnerExit never overtakes the session's last message). Rebuilt from the store on activation.
/// </summary>
internal interface ISessionGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// The matchmaker has just created the session with <paramref name="callerId"/>: tell the partner
    /// (NewSession, with the interests both share). The two addresses (null: unknown) are kept in memory for a report.
    /// </summary>
    Task<OpenedSession> Open(ulong callerId, string? callerAddress, string? partnerAddress, string[] commonInterests);

    /// <summary>
    /// The caller's answer to its MATCH_REQ (after <see cref="Open"/>) reached nobody, its broker having
    /// stopped waiting: the caller hears of the session as a partner does (NewSession).
    /// </summary>
    Task TellCaller(ulong callerId, string[] commonInterests);

    /// <summary>
    /// The matchmaker has just created the session on its own (neither member is waiting for an
    /// answer): tell both (NewSession). The addresses of <paramref name="firstId"/> and of the other are kept for a report.
    /// </summary>
    Task OpenBoth(ulong firstId, string? firstAddress, string? secondAddress, string[] commonInterests);

    /// <summary>
    /// The member reports its partner: the session ends (the partner hears only PartnerExit), if it
    /// had not; an ended session may be reported for <c>Chat:Moderation:ReportableFor</c> after its end
    /// (an ended session that knows its members' addresses stays in memory that long, for such a report).
    /// </summary>
    Task<ReportedSession> Report(ulong reporterId, string? viaBroker);

    // viaBroker, on every request a broker makes for a member: the calling broker's address as its
    // certificate names it (null without TLS, and in one process). A member whose socket is on another
    // broker is answered as a stranger (ParamErr): a broker can act for its own visitors only.

    /// <summary>Stores a message (a retried requestId: the first attempt's) and pushes it to the partner once committed.</summary>
    ValueTask<SendOutcome> Send(ulong senderId, string requestId, string content, string? viaBroker);

    Task<ResultCode> ViewedAck(ulong readerId, ulong msgId, string? viaBroker);

    Task<ResultCode> Typing(ulong accountId, string? viaBroker);

    /// <summary>Ends the session: the partner gets PartnerExit after everything sent before it.</summary>
    Task<ResultCode> End(ulong leaverId, string? viaBroker);

    /// <summary>Messages up to <paramref name="msgId"/> reached the member's client.</summary>
    Task<ResultCode> ConfirmDelivered(ulong accountId, ulong msgId, string? viaBroker);

    /// <summary>The member's account is bound to a new socket: pushes wait until <see cref="Resume"/>; the partner hears it is back.</summary>
    Task<AttachedSession?> Attach(ulong accountId, ClientEndpoint endpoint);

    /// <summary>Replays what the member's socket has not had, then lets live pushes through again.</summary>
    Task Resume(ulong accountId, ClientEndpoint endpoint);

    /// <summary>The member's socket was lost: its messages wait in the store, the partner hears it is away.</summary>
    Task Away(ulong accountId, ClientEndpoint endpoint);
}

[GenerateSerializer, Immutable]
internal sealed record OpenedSession([property: Id(0)] ResultCode Code, [property: Id(1)] ulong PartnerId = 0, [property: Id(2)] string? PartnerName = null);

[GenerateSerializer, Immutable]
/// <param name="Owner">The gRPC address of the logic node whose silo holds the session (null in one process): brokers send the session's next messages there.</param>
internal readonly record struct SendOutcome([property: Id(0)] ResultCode Code, [property: Id(1)] ulong MsgId = 0, [property: Id(2)] string? Message = null, [property: Id(3)] string? Owner = null);

/// <param name="PartnerReadUpTo">How far the partner has read the member's messages (its read-up-to mark).</param>
[GenerateSerializer, Immutable]
internal sealed record AttachedSession([property: Id(0)] ulong SessionId, [property: Id(1)] ulong PartnerId, [property: Id(2)] string PartnerName, [property: Id(3)] bool PartnerOnline, [property: Id(4)] ulong PartnerReadUpTo = 0);

/// <param name="Code">Success; ParamErr: not the reporter's session; NoDataFound: it ended too long ago.</param>
/// <param name="ReporterAddress">The reporter's address when the session began (null: unknown, such as after the session's node died).</param>
[GenerateSerializer, Immutable]
internal sealed record ReportedSession(
    [property: Id(0)] ResultCode Code,
    [property: Id(1)] ulong PartnerId = 0,
    [property: Id(2)] string? ReporterAddress = null,
    [property: Id(3)] string? PartnerAddress = null);
