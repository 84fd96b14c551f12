using System.Text.Json.Serialization;

namespace Chat.Protocol.Frames;

// Server-to-client frames. Field names are the seed's (camelCase on the wire); optional fields
// are omitted when null, as the seed omits them. Fields marked "ours" are additive extensions.

public sealed record CreateAccountResponse(ResultCode Code, string? NickName = null, ulong? AccountId = null, string? Token = null, string? Msg = null)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.CreateAccountResp;

    /// <summary>Ours, with code 5: seconds until a new account may be created from this address.</summary>
    public int? RetryAfter { get; init; }

    /// <summary>Ours, with code 6: the challenge whose solution the next CRT_ACCOUNT_REQ must carry.</summary>
    public ChallengeFrame? Challenge { get; init; }

    /// <summary>Ours, with code 7: when the ban ends, Unix milliseconds.</summary>
    public long? Until { get; init; }

    /// <summary>Ours, with code 7: the ban's reference, to quote to the operator.</summary>
    public string? Ref { get; init; }
}

public sealed record MatchResponse(ResultCode Code, ulong? PartnerId = null, string? PartnerName = null, ulong? SessionId = null, string? Msg = null)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.MatchResp;

    /// <summary>Ours, with code 5: seconds until MATCH_REQ may succeed.</summary>
    public int? RetryAfter { get; init; }

    /// <summary>Ours, with code 6: the challenge whose solution the next MATCH_REQ must carry.</summary>
    public ChallengeFrame? Challenge { get; init; }

    /// <summary>Ours, with code 0: the interests both share, folded (<c>[]</c> when none).</summary>
    public IReadOnlyList<string>? CommonInterests { get; init; }
}

/// <summary>Ours: an ALTCHA challenge as its widget reads it (note <c>maxnumber</c>, all lower case, as ALTCHA spells it).</summary>
public sealed record ChallengeFrame(
    string Algorithm,
    string Challenge,
    [property: JsonPropertyName("maxnumber")] long MaxNumber,
    string Salt,
    string Signature);

public sealed record DialogueResponse(ResultCode Code, string? RequestId, ulong? MsgId = null, string? Msg = null)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.DialogueResp;
}

/// <param name="SentAt">Ours: when the server stored the message, Unix milliseconds.</param>
public sealed record PushDialogueRequest(ulong MsgId, ulong SenderId, ulong SessionId, string Content, long SentAt)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.PushDialogueReq;
}

/// <param name="CommonInterests">Ours, with NewSession: the interests both share, folded (<c>[]</c> when none).</param>
public sealed record SignalData(ulong AccountId, string? NickName = null, IReadOnlyList<string>? CommonInterests = null);

public sealed record PushSignalRequest(ulong SenderId, ulong SessionId, ulong ReceiverId, string SignalType, SignalData Data)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.PushSignalReq;
}

public sealed record PushViewedAckRequest(ulong SessionId, ulong AccountId, ulong MsgId)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.PushViewedAckReq;
}

/// <summary>PING_REQ and PING_RESP share one shape.</summary>
public sealed record PingFrame([property: JsonPropertyOrder(-1)] string Cmd, ulong AccountId);

/// <summary>Ours: a session the account is in, as RECONNECT_RESP lists them.</summary>
/// <param name="PartnerReadUpTo">Ours: the partner's read-up-to mark in the session: the account's own messages up to this msgId were read (0: none).</param>
public sealed record SessionSummary(ulong SessionId, ulong PartnerId, string PartnerName, bool PartnerOnline, ulong PartnerReadUpTo = 0);

/// <param name="Sessions">Ours: the account's active sessions, so a client can restore its tabs.</param>
/// <param name="RetryAfter">Ours: with code 5, the seconds until the account may reconnect again.</param>
public sealed record ReconnectResponse(ResultCode Code, ulong? AccountId = null, string? NickName = null, IReadOnlyList<SessionSummary>? Sessions = null, string? Msg = null, int? RetryAfter = null)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.ReconnectResp;

    /// <summary>Ours, with code 7: when the ban ends, Unix milliseconds.</summary>
    public long? Until { get; init; }

    /// <summary>Ours, with code 7: the ban's reference.</summary>
    public string? Ref { get; init; }
}

/// <summary>Ours: code 7 on a response that carries only a code (ERROR_RESP to an open socket that was banned, MATCH_RESP, REPORT_RESP): why, until when (Unix ms), and the ban's reference.</summary>
public sealed record BannedResponse([property: JsonPropertyOrder(-1)] string Cmd, string Msg, long Until, string Ref)
{
    [JsonPropertyOrder(0)]
    public ResultCode Code => ResultCode.Banned;
}

/// <summary>Ours: online accounts and accounts waiting for a match.</summary>
public sealed record StatsResponse(ResultCode Code, int Online, int Waiting)
{
    [JsonPropertyOrder(-1)]
    public string Cmd => Commands.StatsResp;
}

/// <summary>
/// Any response that carries only a code: VIEWED_ACK_RESP, END_SESSION_RESP, error replies to
/// the other commands, and ERROR_RESP for frames whose command is unknown or unreadable.
/// </summary>
public sealed record StatusResponse([property: JsonPropertyOrder(-1)] string Cmd, ResultCode Code, string? Msg = null, string? RequestId = null, ulong? SessionId = null, int? RetryAfter = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = false)]
[JsonSerializable(typeof(CreateAccountResponse))]
[JsonSerializable(typeof(MatchResponse))]
[JsonSerializable(typeof(ChallengeFrame))]
[JsonSerializable(typeof(DialogueResponse))]
[JsonSerializable(typeof(PushDialogueRequest))]
[JsonSerializable(typeof(PushSignalRequest))]
[JsonSerializable(typeof(PushViewedAckRequest))]
[JsonSerializable(typeof(PingFrame))]
[JsonSerializable(typeof(ReconnectResponse))]
[JsonSerializable(typeof(StatsResponse))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(BannedResponse))]
public sealed partial class ServerFrameJsonContext : JsonSerializerContext;
