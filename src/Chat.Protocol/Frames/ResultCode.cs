namespace Chat.Protocol.Frames;

/// <summary>The <c>code</c> of every response. 0–4 are the seed's; higher values are our additions.</summary>
public enum ResultCode
{
    Success = 0,
    ParamErr = 1,
    InternalErr = 2,
    UnknownErr = 3,
    NoDataFound = 4,

    /// <summary>Ours: a limit was reached (the connection's request rate, or a per-address or per-account limit); the request was not carried out.</summary>
    RateLimited = 5,

    /// <summary>Ours: the request must carry a solved proof-of-work challenge (the one offered in the response); nothing was done.</summary>
    ChallengeRequired = 6,

    /// <summary>Ours: the visitor's address or account is banned by the operator (the response's <c>msg</c>, <c>until</c> and <c>ref</c> say why, how long, and which ban).</summary>
    Banned = 7,
}
