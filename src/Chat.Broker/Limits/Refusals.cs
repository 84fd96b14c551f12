using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Broker.Limits;

/// <summary>A limit's refusal as the refused command's own response: its code, what was refused, and the additive fields that say what to do.</summary>
internal static class Refusals
{
    public static CreateAccountResponse CreateAccount(Admission refusal) => new(refusal.Code, Msg: refusal.Message)
    {
        RetryAfter = refusal.RetryAfter,
        Challenge = refusal.Challenge is { } c ? new ChallengeFrame(c.Algorithm, c.Challenge, c.MaxNumber, c.Salt, c.Signature) : null,
    };
}
