using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Broker.Limits;

/// <summary>A limit's refusal as the refused command's own response: its code, what was refused, and the additive fields that say what to do.</summary>
internal static class Refusals
{
    public static CreateAccountResponse CreateAccount(Admission refusal) => new(refusal.Code, Msg: refusal.Message)
    {
        RetryAfter = refusal.RetryAfter,
        Challenge = Frame(refusal.Challenge),
    };

    /// <summary>MATCH_RESP without a match: waiting (4), or refused (5 with retryAfter, 6 with a challenge).</summary>
    public static MatchResponse Match(MatchResult match) => new(match.Code, Msg: match.Message)
    {
        RetryAfter = match.RetryAfter,
        Challenge = Frame(match.Challenge),
    };

    private static ChallengeFrame? Frame(AltchaChallenge? challenge) =>
        challenge is { } c ? new ChallengeFrame(c.Algorithm, c.Challenge, c.MaxNumber, c.Salt, c.Signature) : null;
}
