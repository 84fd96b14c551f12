using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Protocol.Grpc;

/// <summary>Between the seams' records (what logic and the broker speak in one process) and the seed's gRPC messages.</summary>
public static class GrpcMapping
{
    public static CodeEnum ToProto(this ResultCode code) => (CodeEnum)(int)code;

    public static ResultCode FromProto(this CodeEnum code) => (ResultCode)(int)code;

    public static AdmissionResponse ToProto(this Admission admission) => new()
    {
        Code = admission.Code.ToProto(),
        Msg = admission.Message ?? string.Empty,
        RetryAfter = admission.RetryAfter ?? 0,
        Challenge = admission.Challenge?.ToProto(),
    };

    public static Admission FromProto(this AdmissionResponse response) => new(
        response.Code.FromProto(),
        response.Msg.Length == 0 ? null : response.Msg,
        response.RetryAfter > 0 ? response.RetryAfter : null,
        response.Challenge?.FromProto());

    public static Grpc.AltchaChallenge ToProto(this Seams.AltchaChallenge c) =>
        new() { Algorithm = c.Algorithm, Challenge = c.Challenge, Maxnumber = c.MaxNumber, Salt = c.Salt, Signature = c.Signature };

    public static Seams.AltchaChallenge FromProto(this Grpc.AltchaChallenge c) => new(c.Algorithm, c.Challenge, c.Maxnumber, c.Salt, c.Signature);

    public static PushDialogue ToProto(this DialoguePush push, ulong connectionId) => new()
    {
        SenderId = push.SenderId,
        SessionId = push.SessionId,
        ReceiverId = push.ReceiverId,
        Content = push.Content,
        MsgId = push.MsgId,
        ConnectionId = connectionId,
        SentAt = push.SentAtUnixMs,
        Replay = push.Replay,
    };

    public static DialoguePush FromProto(this PushDialogue push) =>
        new(push.SenderId, push.SessionId, push.ReceiverId, push.Content, push.MsgId, push.SentAt, push.Replay);

    public static PushSignal ToProto(this SignalPush push, ulong connectionId)
    {
        var signal = new PushSignal
        {
            SignalType = (SignalTypeEnum)(int)push.Kind,
            SenderId = push.SenderId,
            ReceiverId = push.ReceiverId,
            SessionId = push.SessionId,
            ConnectionId = connectionId,
        };
        switch (push.Kind)
        {
            case SignalKind.NewSession or SignalKind.PartnerBack:
                signal.Partner = new AccountInfo { AccountId = push.AccountId, NickName = push.NickName ?? string.Empty };
                if (push.CommonInterests is { } common)
                {
                    signal.Partner.CommonInterests.Add(common);
                }

                break;
            case SignalKind.ViewedAck:
                signal.MsgId = push.MsgId;
                break;
            default:
                signal.AccountId = push.AccountId;
                break;
        }

        return signal;
    }

    public static SignalPush FromProto(this PushSignal push)
    {
        var kind = (SignalKind)(int)push.SignalType;
        return push.DataCase switch
        {
            PushSignal.DataOneofCase.Partner => new SignalPush(
                kind, push.SenderId, push.ReceiverId, push.SessionId, push.Partner.AccountId, push.Partner.NickName,
                CommonInterests: kind == SignalKind.NewSession ? [.. push.Partner.CommonInterests] : null),
            // A ViewedAck's reader is its sender.
            PushSignal.DataOneofCase.MsgId => new SignalPush(kind, push.SenderId, push.ReceiverId, push.SessionId, push.SenderId, MsgId: push.MsgId),
            _ => new SignalPush(kind, push.SenderId, push.ReceiverId, push.SessionId, push.AccountId),
        };
    }

    /// <summary>The signals the seed's own broker knows (its SignalTypeEnum); ours are not sent to it.</summary>
    public static bool IsSeeds(this SignalKind kind) => kind is SignalKind.PartnerExit or SignalKind.NewSession or SignalKind.DeleteMsg or SignalKind.ViewedAck;

    public static ReadBansResponse ToProto(this BanBook? book)
    {
        if (book is null)
        {
            return new ReadBansResponse { Unchanged = true };
        }

        var response = new ReadBansResponse { Version = book.Version };
        response.Bans.AddRange(book.Bans.Select(b => new BanEntry
        {
            Ref = b.Ref,
            Target = b.Target == BanTarget.Account ? BanTargetEnum.BanAccount : BanTargetEnum.BanAddress,
            Value = b.Value,
            Until = b.UntilUnixMs,
            Reason = b.Reason,
        }));
        return response;
    }

    public static BanBook? FromProto(this ReadBansResponse response) => response.Unchanged
        ? null
        : new BanBook(response.Version, [.. response.Bans.Select(b => new Ban(b.Ref, b.Target == BanTargetEnum.BanAccount ? BanTarget.Account : BanTarget.Address, b.Value, b.Until, b.Reason))]);
}
