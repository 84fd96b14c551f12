using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Chat.Protocol.Frames;

namespace Chat.Broker.Frames;

/// <summary>Turns server frames into UTF-8 JSON through the source-generated context (no reflection).</summary>
internal static class FrameSerializer
{
    private static readonly ServerFrameJsonContext Context = ServerFrameJsonContext.Default;

    public static byte[] Serialize(CreateAccountResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.CreateAccountResponse);

    public static byte[] Serialize(MatchResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.MatchResponse);

    public static byte[] Serialize(DialogueResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.DialogueResponse);

    public static byte[] Serialize(PushDialogueRequest frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.PushDialogueRequest);

    public static byte[] Serialize(PushSignalRequest frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.PushSignalRequest);

    public static byte[] Serialize(PushViewedAckRequest frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.PushViewedAckRequest);

    public static byte[] Serialize(PingFrame frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.PingFrame);

    public static byte[] Serialize(ReconnectResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.ReconnectResponse);

    public static byte[] Serialize(StatsResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.StatsResponse);

    public static byte[] Serialize(StatusResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.StatusResponse);

    public static byte[] Serialize(BannedResponse frame) => JsonSerializer.SerializeToUtf8Bytes(frame, Context.BannedResponse);
}
