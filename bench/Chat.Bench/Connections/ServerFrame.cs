using System.Text;
using System.Text.Json;

namespace Chat.Bench.Connections;

public enum ServerCommand
{
    Other,
    CreateAccountResp,
    MatchResp,
    DialogueResp,
    PushDialogue,
    PushSignal,
    PingReq,
    ReconnectResp,
    ErrorResp,
    ViewedAckResp,
    PushViewedAck,
}

public enum SignalKind
{
    Other,
    NewSession,
    PartnerExit,
    Typing,
}

/// <summary>
/// The fields of one server frame that the bench acts on. Text fields on the message path
/// (requestId, content) are kept as ranges into the receive buffer, so reading a frame allocates
/// nothing; the few strings (token, nickname) are only read on setup frames.
/// </summary>
public struct ServerFrame
{
    public ServerCommand Command;
    public int Code;
    public ulong AccountId;
    public ulong PartnerId;
    public ulong SenderId;
    public ulong SessionId;
    public ulong MsgId;
    public SignalKind Signal;
    public ulong DataAccountId;
    public Range RequestId;
    public Range Content;
    public string? Token;

    private static readonly JsonReaderOptions Options = new() { MaxDepth = 8 };

    /// <summary>Reads <paramref name="utf8"/>; false when it is not a JSON object.</summary>
    public static bool TryRead(ReadOnlySpan<byte> utf8, out ServerFrame frame)
    {
        frame = default;
        var reader = new Utf8JsonReader(utf8, Options);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            ReadObject(ref reader, ref frame, nested: false);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void ReadObject(ref Utf8JsonReader reader, ref ServerFrame frame, bool nested)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            reader.Read();
            if (nested)
            {
                if (Is(name, "accountId"u8))
                {
                    frame.DataAccountId = Id(ref reader);
                }
                else
                {
                    reader.Skip();
                }

                continue;
            }

            switch (name.Length)
            {
                case 3 when Is(name, "cmd"u8):
                    frame.Command = CommandOf(reader.ValueSpan);
                    break;
                case 4 when Is(name, "code"u8):
                    frame.Code = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : -1;
                    break;
                case 4 when Is(name, "data"u8):
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadObject(ref reader, ref frame, nested: true);
                    }
                    else
                    {
                        reader.Skip();
                    }

                    break;
                case 5 when Is(name, "msgId"u8):
                    frame.MsgId = Id(ref reader);
                    break;
                case 5 when Is(name, "token"u8):
                    frame.Token = reader.GetString();
                    break;
                case 7 when Is(name, "content"u8):
                    frame.Content = RangeOf(ref reader);
                    break;
                case 8 when Is(name, "senderId"u8):
                    frame.SenderId = Id(ref reader);
                    break;
                case 9 when Is(name, "accountId"u8):
                    frame.AccountId = Id(ref reader);
                    break;
                case 9 when Is(name, "partnerId"u8):
                    frame.PartnerId = Id(ref reader);
                    break;
                case 9 when Is(name, "sessionId"u8):
                    frame.SessionId = Id(ref reader);
                    break;
                case 9 when Is(name, "requestId"u8):
                    frame.RequestId = RangeOf(ref reader);
                    break;
                case 10 when Is(name, "signalType"u8):
                    frame.Signal = reader.ValueTextEquals("NewSession"u8) ? SignalKind.NewSession
                        : reader.ValueTextEquals("PartnerExit"u8) ? SignalKind.PartnerExit
                        : reader.ValueTextEquals("Typing"u8) ? SignalKind.Typing
                        : SignalKind.Other;
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
    }

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> key) => Ascii.EqualsIgnoreCase(name, key);

    private static ulong Id(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var id) ? id : 0;

    // The bench's own text never needs escaping, so the raw bytes are the value.
    private static Range RangeOf(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            return default;
        }

        var start = (int)reader.TokenStartIndex + 1;
        return new Range(start, start + reader.ValueSpan.Length);
    }

    private static ServerCommand CommandOf(ReadOnlySpan<byte> cmd) => cmd switch
    {
        _ when cmd.SequenceEqual("PUSH_DIALOGUE_REQ"u8) => ServerCommand.PushDialogue,
        _ when cmd.SequenceEqual("DIALOGUE_RESP"u8) => ServerCommand.DialogueResp,
        _ when cmd.SequenceEqual("PUSH_SIGNAL_REQ"u8) => ServerCommand.PushSignal,
        _ when cmd.SequenceEqual("PING_REQ"u8) => ServerCommand.PingReq,
        _ when cmd.SequenceEqual("CRT_ACCOUNT_RESP"u8) => ServerCommand.CreateAccountResp,
        _ when cmd.SequenceEqual("MATCH_RESP"u8) => ServerCommand.MatchResp,
        _ when cmd.SequenceEqual("RECONNECT_RESP"u8) => ServerCommand.ReconnectResp,
        _ when cmd.SequenceEqual("ERROR_RESP"u8) => ServerCommand.ErrorResp,
        _ when cmd.SequenceEqual("VIEWED_ACK_RESP"u8) => ServerCommand.ViewedAckResp,
        _ when cmd.SequenceEqual("PUSH_VIEWED_ACK_REQ"u8) => ServerCommand.PushViewedAck,
        _ => ServerCommand.Other,
    };
}
