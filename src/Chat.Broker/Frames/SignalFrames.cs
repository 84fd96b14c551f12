using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Broker.Frames;

/// <summary>How a signal from logic looks on the wire.</summary>
internal static class SignalFrames
{
    public static byte[] Serialize(SignalPush push) => push.Kind switch
    {
        SignalKind.ViewedAck => FrameSerializer.Serialize(new PushViewedAckRequest(push.SessionId, push.AccountId, push.MsgId)),
        _ => FrameSerializer.Serialize(new PushSignalRequest(
            push.SenderId,
            push.SessionId,
            push.ReceiverId,
            NameOf(push.Kind),
            new SignalData(push.AccountId, push.NickName, push.Kind == SignalKind.NewSession ? push.CommonInterests ?? [] : null))),
    };

    public static string NameOf(SignalKind kind) => kind switch
    {
        SignalKind.NewSession => SignalTypes.NewSession,
        SignalKind.PartnerExit => SignalTypes.PartnerExit,
        SignalKind.PartnerAway => SignalTypes.PartnerAway,
        SignalKind.PartnerBack => SignalTypes.PartnerBack,
        SignalKind.Typing => SignalTypes.Typing,
        _ => kind.ToString(),
    };
}
