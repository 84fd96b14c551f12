using Chat.Protocol.Frames;

namespace Chat.Protocol.Seams;

/// <summary>
/// What logic says of a request a per-address or per-account rule guards (a socket, a new account,
/// a match): <see cref="ResultCode.Success"/> to go ahead, or a refusal the broker answers with that
/// command's own response (code 5 RateLimited with <see cref="RetryAfter"/>, code 6 ChallengeRequired
/// with <see cref="Challenge"/>). More refusals (a ban) are more codes with more fields here; the
/// broker passes on whatever it is given. <see cref="ResultCode.InternalErr"/> means the rule could
/// not be checked (logic unreachable): the caller lets the request through (fails open) and says so.
/// </summary>
/// <param name="Message">Says what was refused, for the client's <c>msg</c>.</param>
/// <param name="RetryAfter">Seconds until the same request may succeed (code 5).</param>
/// <param name="Challenge">The proof of work to solve and send back (code 6).</param>
public readonly record struct Admission(ResultCode Code, string? Message = null, int? RetryAfter = null, AltchaChallenge? Challenge = null)
{
    public static Admission Admitted => default;

    /// <summary>Could not be checked: let it through.</summary>
    public static Admission Unchecked => new(ResultCode.InternalErr);

    public bool IsRefused => Code is not (ResultCode.Success or ResultCode.InternalErr);
}

/// <summary>
/// An ALTCHA proof-of-work challenge (https://altcha.org, the v1 format its widget and libraries
/// solve): find the number n in 0..<see cref="MaxNumber"/> for which SHA-256(<see cref="Salt"/> + n),
/// in lower-case hex, is <see cref="Challenge"/>. <see cref="Signature"/> is the server's HMAC of the
/// challenge, so the server can check an answer without having kept anything.
/// </summary>
public sealed record AltchaChallenge(string Algorithm, string Challenge, long MaxNumber, string Salt, string Signature);
