namespace Chat.Protocol.Frames;

/// <summary>The <c>code</c> of every response. 0–4 are the seed's; higher values are our additions.</summary>
public enum ResultCode
{
    Success = 0,
    ParamErr = 1,
    InternalErr = 2,
    UnknownErr = 3,
    NoDataFound = 4,

    /// <summary>The connection sent more requests than its rate limit allows; the request was not carried out.</summary>
    RateLimited = 5,
}
