using System.Text;
using System.Text.Json;

namespace Chat.Relay;

public enum RelayCommand
{
    Unknown,
    CreateAccount,
    Reconnect,
    Match,
    Dialogue,
    Ping,
    Typing,
    ViewedAck,

    /// <summary>Commands the relay accepts and does nothing with (PING_RESP, PUSH_*_RESP, …).</summary>
    Ignored,
}

/// <summary>
/// The fields of a client frame the relay reads. requestId and content are kept as the raw JSON
/// string token (quotes included) and written back as is; nickName and token (setup only) as strings.
/// </summary>
public struct RelayRequest
{
    public RelayCommand Command;
    public ulong AccountId;
    public ulong SessionId;
    public ulong MsgId;
    public string? NickName;
    public string? Token;
    public Range RequestId;
    public Range Content;

    public static RelayRequest Read(ReadOnlySpan<byte> utf8)
    {
        var request = default(RelayRequest);
        var reader = new Utf8JsonReader(utf8);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return request;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                reader.Read();
                if (Ascii.EqualsIgnoreCase(name, "cmd"u8) && reader.TokenType == JsonTokenType.String)
                {
                    request.Command = CommandOf(reader.ValueSpan);
                }
                else if (Ascii.EqualsIgnoreCase(name, "accountId"u8) && reader.TokenType == JsonTokenType.Number)
                {
                    request.AccountId = reader.GetUInt64();
                }
                else if (Ascii.EqualsIgnoreCase(name, "sessionId"u8) && reader.TokenType == JsonTokenType.Number)
                {
                    request.SessionId = reader.GetUInt64();
                }
                else if (Ascii.EqualsIgnoreCase(name, "msgId"u8) && reader.TokenType == JsonTokenType.Number)
                {
                    request.MsgId = reader.GetUInt64();
                }
                else if (Ascii.EqualsIgnoreCase(name, "nickName"u8) && reader.TokenType == JsonTokenType.String)
                {
                    request.NickName = reader.GetString();
                }
                else if (Ascii.EqualsIgnoreCase(name, "token"u8) && reader.TokenType == JsonTokenType.String)
                {
                    request.Token = reader.GetString();
                }
                else if (Ascii.EqualsIgnoreCase(name, "requestId"u8) && reader.TokenType == JsonTokenType.String)
                {
                    request.RequestId = RawToken(ref reader);
                }
                else if (Ascii.EqualsIgnoreCase(name, "content"u8) && reader.TokenType == JsonTokenType.String)
                {
                    request.Content = RawToken(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            request.Command = RelayCommand.Unknown;
        }

        return request;
    }

    private static Range RawToken(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        return new Range(start, start + reader.ValueSpan.Length + 2);
    }

    private static RelayCommand CommandOf(ReadOnlySpan<byte> cmd) => cmd switch
    {
        _ when cmd.SequenceEqual("DIALOGUE_REQ"u8) => RelayCommand.Dialogue,
        _ when cmd.SequenceEqual("CRT_ACCOUNT_REQ"u8) => RelayCommand.CreateAccount,
        _ when cmd.SequenceEqual("MATCH_REQ"u8) => RelayCommand.Match,
        _ when cmd.SequenceEqual("RECONNECT_REQ"u8) => RelayCommand.Reconnect,
        _ when cmd.SequenceEqual("PING_REQ"u8) => RelayCommand.Ping,
        _ when cmd.SequenceEqual("TYPING_REQ"u8) => RelayCommand.Typing,
        _ when cmd.SequenceEqual("VIEWED_ACK_REQ"u8) => RelayCommand.ViewedAck,
        _ when cmd.SequenceEqual("PING_RESP"u8) || cmd.SequenceEqual("PUSH_DIALOGUE_RESP"u8) || cmd.SequenceEqual("PUSH_SIGNAL_RESP"u8) => RelayCommand.Ignored,
        _ => RelayCommand.Unknown,
    };
}
