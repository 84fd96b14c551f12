using System.Text;
using System.Text.Json;

namespace Chat.Protocol.Frames;

/// <summary>
/// Reads one client frame with <see cref="Utf8JsonReader"/>: keys are matched case-insensitively
/// (the seed's Go server does the same), unknown keys are skipped, and a known key with the wrong
/// JSON type is reported rather than thrown, so the reply can still name the command.
/// </summary>
public static class ClientFrameParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    /// <summary>Interests read from one frame at most: past it the field is refused whole (logic allows fewer).</summary>
    public const int MaxInterestsRead = 32;

    public enum Outcome
    {
        Ok,
        /// <summary>Not JSON, or JSON that is not one object.</summary>
        Malformed,
    }

    public static Outcome Parse(ReadOnlySpan<byte> utf8, ClientRequest request)
    {
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return Outcome.Malformed;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    // Trailing content after the object is malformed too.
                    return reader.Read() ? Outcome.Malformed : Outcome.Ok;
                }

                var field = MatchField(ref reader);
                if (!reader.Read())
                {
                    return Outcome.Malformed;
                }

                ReadValue(ref reader, field, request);
            }

            return Outcome.Malformed;
        }
        catch (JsonException)
        {
            return Outcome.Malformed;
        }
        catch (InvalidOperationException)
        {
            return Outcome.Malformed;
        }
    }

    private enum Field
    {
        Unknown,
        Cmd,
        NickName,
        AccountId,
        SenderId,
        SessionId,
        MsgId,
        RequestId,
        Content,
        Token,
        Code,
        ConfirmReceipt,
        Altcha,
        Interests,
        Lang,
        Fallback,
        Reason,
        Note,
    }

    /// <summary>The longest known name, "confirmReceipt", with every character escaped (\u0063…): 6 bytes each.</summary>
    private const int MaxEscapedNameBytes = 6 * 14;

    private static Field MatchField(ref Utf8JsonReader reader)
    {
        // Frames are parsed from one contiguous span, so names never span segments.
        scoped ReadOnlySpan<byte> name = reader.ValueSpan;
        scoped Span<byte> scratch = stackalloc byte[MaxEscapedNameBytes];
        if (reader.ValueIsEscaped)
        {
            if (name.Length > scratch.Length)
            {
                return Field.Unknown;
            }

            try
            {
                name = scratch[..reader.CopyString(scratch)];
            }
            catch (InvalidOperationException)
            {
                return Field.Unknown; // a lone surrogate (\uD800): no name we know, skipped like any unknown key
            }
        }

        return name.Length switch
        {
            3 when Ascii.EqualsIgnoreCase(name, "cmd"u8) => Field.Cmd,
            4 when Ascii.EqualsIgnoreCase(name, "code"u8) => Field.Code,
            4 when Ascii.EqualsIgnoreCase(name, "lang"u8) => Field.Lang,
            8 when Ascii.EqualsIgnoreCase(name, "fallback"u8) => Field.Fallback,
            9 when Ascii.EqualsIgnoreCase(name, "interests"u8) => Field.Interests,
            4 when Ascii.EqualsIgnoreCase(name, "note"u8) => Field.Note,
            5 when Ascii.EqualsIgnoreCase(name, "msgId"u8) => Field.MsgId,
            5 when Ascii.EqualsIgnoreCase(name, "token"u8) => Field.Token,
            6 when Ascii.EqualsIgnoreCase(name, "altcha"u8) => Field.Altcha,
            6 when Ascii.EqualsIgnoreCase(name, "reason"u8) => Field.Reason,
            7 when Ascii.EqualsIgnoreCase(name, "content"u8) => Field.Content,
            8 when Ascii.EqualsIgnoreCase(name, "nickName"u8) => Field.NickName,
            8 when Ascii.EqualsIgnoreCase(name, "senderId"u8) => Field.SenderId,
            9 when Ascii.EqualsIgnoreCase(name, "accountId"u8) => Field.AccountId,
            9 when Ascii.EqualsIgnoreCase(name, "sessionId"u8) => Field.SessionId,
            9 when Ascii.EqualsIgnoreCase(name, "requestId"u8) => Field.RequestId,
            14 when Ascii.EqualsIgnoreCase(name, "confirmReceipt"u8) => Field.ConfirmReceipt,
            _ => Field.Unknown,
        };
    }

    private static void ReadValue(ref Utf8JsonReader reader, Field field, ClientRequest request)
    {
        switch (field)
        {
            case Field.Unknown:
                reader.Skip();
                return;
            case Field.Cmd:
                if (ReadString(ref reader, request, "cmd") is { } cmd)
                {
                    request.Cmd = cmd;
                    request.Kind = KindOf(cmd);
                }

                return;
            case Field.NickName:
                request.NickName = ReadString(ref reader, request, "nickName");
                return;
            case Field.RequestId:
                request.RequestId = ReadString(ref reader, request, "requestId");
                return;
            case Field.Content:
                request.Content = ReadString(ref reader, request, "content");
                return;
            case Field.Token:
                request.Token = ReadString(ref reader, request, "token");
                return;
            case Field.Altcha:
                request.Altcha = ReadString(ref reader, request, "altcha");
                return;
            case Field.Reason:
                request.Reason = ReadString(ref reader, request, "reason");
                return;
            case Field.Note:
                request.Note = ReadString(ref reader, request, "note");
                return;
            case Field.AccountId:
                request.AccountId = ReadId(ref reader, request, "accountId");
                return;
            case Field.SenderId:
                request.SenderId = ReadId(ref reader, request, "senderId");
                return;
            case Field.SessionId:
                request.SessionId = ReadId(ref reader, request, "sessionId");
                return;
            case Field.MsgId:
                request.MsgId = ReadId(ref reader, request, "msgId");
                return;
            case Field.Lang:
                request.Lang = ReadString(ref reader, request, "lang");
                return;
            case Field.Interests:
                ReadInterests(ref reader, request);
                return;
            case Field.Fallback:
                if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                {
                    request.Fallback = reader.GetBoolean();
                }
                else if (reader.TokenType != JsonTokenType.Null)
                {
                    Mistyped(ref reader, request, "fallback");
                }

                return;
            case Field.ConfirmReceipt:
                if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                {
                    request.ConfirmReceipt = reader.GetBoolean();
                }
                else
                {
                    Mistyped(ref reader, request, "confirmReceipt");
                }

                return;
            case Field.Code:
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var code))
                {
                    request.Code = code;
                }
                else
                {
                    Mistyped(ref reader, request, "code");
                }

                return;
        }
    }

    /// <summary>
    /// An array of strings, kept as sent; anything else (a non-array, a non-string element, more than
    /// <see cref="MaxInterestsRead"/>) is the mistyped field, so MATCH_RESP names it (code 1).
    /// </summary>
    private static void ReadInterests(ref Utf8JsonReader reader, ClientRequest request)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return;
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            Mistyped(ref reader, request, "interests");
            return;
        }

        var interests = new List<string>();
        var refused = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String || interests.Count == MaxInterestsRead)
            {
                refused = true;
                reader.Skip();
                continue;
            }

            interests.Add(reader.GetString()!);
        }

        if (refused)
        {
            request.MistypedField ??= "interests";
        }
        else
        {
            request.Interests = interests;
        }
    }

    private static string? ReadString(ref Utf8JsonReader reader, ClientRequest request, string name)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.Null:
                return null;
            default:
                Mistyped(ref reader, request, name);
                return null;
        }
    }

    private static ulong? ReadId(ref Utf8JsonReader reader, ClientRequest request, string name)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var id))
        {
            return id;
        }

        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        Mistyped(ref reader, request, name);
        return null;
    }

    private static void Mistyped(ref Utf8JsonReader reader, ClientRequest request, string name)
    {
        request.MistypedField ??= name;
        reader.Skip();
    }

    public static CommandKind KindOf(string cmd) => cmd switch
    {
        Commands.CreateAccountReq => CommandKind.CreateAccount,
        Commands.MatchReq => CommandKind.Match,
        Commands.DialogueReq => CommandKind.Dialogue,
        Commands.PushDialogueResp => CommandKind.PushDialogueResp,
        Commands.PushSignalResp => CommandKind.PushSignalResp,
        Commands.PingReq => CommandKind.Ping,
        Commands.PingResp => CommandKind.PingResp,
        Commands.ViewedAckReq => CommandKind.ViewedAck,
        Commands.ReconnectReq => CommandKind.Reconnect,
        Commands.EndSessionReq => CommandKind.EndSession,
        Commands.TypingReq => CommandKind.Typing,
        Commands.StatsReq => CommandKind.Stats,
        Commands.ReportReq => CommandKind.Report,
        _ => CommandKind.Unknown,
    };

    /// <summary>The response command for a request command (ERROR_RESP when there is none).</summary>
    public static string ResponseOf(CommandKind kind) => kind switch
    {
        CommandKind.CreateAccount => Commands.CreateAccountResp,
        CommandKind.Match => Commands.MatchResp,
        CommandKind.Dialogue => Commands.DialogueResp,
        CommandKind.ViewedAck => Commands.ViewedAckResp,
        CommandKind.Reconnect => Commands.ReconnectResp,
        CommandKind.EndSession => Commands.EndSessionResp,
        CommandKind.Stats => Commands.StatsResp,
        CommandKind.Report => Commands.ReportResp,
        CommandKind.Ping => Commands.PingResp,
        _ => Commands.ErrorResp,
    };
}
