using System.Text.Json;

namespace Chat.Tests.Fuzzing;

/// <summary>
/// What docs/protocol.md says the server answers to one text frame, worked out from the frame with
/// <see cref="JsonDocument"/> (not the server's parser): the response command and the codes it may
/// carry, or no answer at all. Where the answer depends on state the fuzzer does not track (a
/// partner waiting, a session id that happens to be the socket's own) every documented code is allowed.
/// </summary>
public sealed record ExpectedAnswer(string? Cmd, int[] Codes, string Why)
{
    /// <summary>The frame gets no answer (answers to the server's pushes, a typing hint).</summary>
    public bool None => Cmd is null;

    /// <summary>PING_RESP to a good PING_REQ carries no code.</summary>
    public bool NoCode => Codes.Length == 0;

    private static ExpectedAnswer Error(string why) => new("ERROR_RESP", [1], why);

    private static ExpectedAnswer Refused(string cmd, string why) => new(cmd, [1], why);

    public static ExpectedAnswer For(ReadOnlyMemory<byte> payload, ulong accountId)
    {
        if (FrameReading.Of(payload) is not { } request)
        {
            return Error("not one JSON object");
        }

        var responseCmd = request.Cmd switch
        {
            "CRT_ACCOUNT_REQ" => "CRT_ACCOUNT_RESP",
            "RECONNECT_REQ" => "RECONNECT_RESP",
            "MATCH_REQ" => "MATCH_RESP",
            "DIALOGUE_REQ" => "DIALOGUE_RESP",
            "VIEWED_ACK_REQ" => "VIEWED_ACK_RESP",
            "END_SESSION_REQ" => "END_SESSION_RESP",
            "STATS_REQ" => "STATS_RESP",
            "PING_REQ" => "PING_RESP",
            "TYPING_REQ" or "PUSH_DIALOGUE_RESP" or "PUSH_SIGNAL_RESP" or "PING_RESP" => "ERROR_RESP",
            _ => null,
        };
        if (responseCmd is null)
        {
            return Error(request.Cmd is null ? "missing cmd" : "unknown cmd");
        }

        if (request.Mistyped is { } field)
        {
            return Refused(responseCmd, $"{field} has the wrong type");
        }

        var own = accountId != 0;
        bool Mine(ulong? claimed) => claimed is null || claimed == accountId;
        switch (request.Cmd)
        {
            case "CRT_ACCOUNT_REQ":
                return own ? Refused(responseCmd, "the socket has an account")
                    : string.IsNullOrWhiteSpace(request.Strings.GetValueOrDefault("nickname")) ? Refused(responseCmd, "no nickname")
                    : new(responseCmd, [0, 1], "a nickname");
            case "RECONNECT_REQ":
                return request.Ids.GetValueOrDefault("accountid") is null || request.Strings.GetValueOrDefault("token") is null ? Refused(responseCmd, "accountId and token are required")
                    : own ? Refused(responseCmd, "the socket has an account")
                    : new(responseCmd, [4], "an account the fuzzer cannot know the token of");
            case "MATCH_REQ":
                return !own || !Mine(request.Ids.GetValueOrDefault("accountid")) ? Refused(responseCmd, "not the socket's account") : new(responseCmd, [0, 1, 4], "a match");
            case "DIALOGUE_REQ":
                return !own || !Mine(request.Ids.GetValueOrDefault("senderid")) ? Refused(responseCmd, "not the socket's account")
                    : request.Ids.GetValueOrDefault("sessionid") is null || request.Strings.GetValueOrDefault("requestid") is null || request.Strings.GetValueOrDefault("content") is null
                        ? Refused(responseCmd, "a field is missing")
                    : new(responseCmd, [0, 1, 4], "a message");
            case "VIEWED_ACK_REQ":
                return !own || !Mine(request.Ids.GetValueOrDefault("accountid")) ? Refused(responseCmd, "not the socket's account")
                    : request.Ids.GetValueOrDefault("sessionid") is null || request.Ids.GetValueOrDefault("msgid") is null ? Refused(responseCmd, "a field is missing")
                    : new(responseCmd, [0, 1, 4], "a read mark");
            case "END_SESSION_REQ":
                return !own || !Mine(request.Ids.GetValueOrDefault("accountid")) ? Refused(responseCmd, "not the socket's account")
                    : request.Ids.GetValueOrDefault("sessionid") is null ? Refused(responseCmd, "sessionId is missing")
                    : new(responseCmd, [0, 1, 4], "an end");
            case "TYPING_REQ":
                return !own || !Mine(request.Ids.GetValueOrDefault("accountid")) ? Refused(responseCmd, "not the socket's account")
                    : request.Ids.GetValueOrDefault("sessionid") is null ? Refused(responseCmd, "sessionId is missing")
                    : new(null, [], "a typing hint");
            case "STATS_REQ":
                return new(responseCmd, [0], "stats");
            case "PING_REQ":
                return new(responseCmd, [], "a ping");
            default:
                return new(null, [], "an answer to a push");
        }
    }
}

/// <summary>A frame's known fields as the protocol reads them: keys in any case, the last of a repeated key counting.</summary>
public sealed class FrameReading
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 16 };

    public string? Cmd { get; private set; }
    public string? Mistyped { get; private set; }
    public Dictionary<string, string?> Strings { get; } = [];
    public Dictionary<string, ulong?> Ids { get; } = [];

    /// <summary>
    /// The reading; null when the frame is not one JSON object (nested at most 16 deep), or a text
    /// field the protocol reads holds a lone surrogate (it has no UTF-16 form).
    /// </summary>
    public static FrameReading? Of(ReadOnlyMemory<byte> payload)
    {
        try
        {
            using var json = JsonDocument.Parse(payload, Options);
            return json.RootElement.ValueKind == JsonValueKind.Object ? From(json.RootElement) : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static FrameReading From(JsonElement root)
    {
        var request = new FrameReading();
        foreach (var property in root.EnumerateObject())
        {
            string name;
            try
            {
                name = property.Name.ToLowerInvariant();
            }
            catch (InvalidOperationException)
            {
                continue; // a key with a lone surrogate is no key the protocol knows
            }

            var value = property.Value;
            switch (name)
            {
                case "cmd":
                    if (value.ValueKind == JsonValueKind.String)
                    {
                        request.Cmd = value.GetString();
                    }
                    else if (value.ValueKind != JsonValueKind.Null)
                    {
                        request.Mistyped ??= "cmd";
                    }

                    break;
                case "nickname" or "requestid" or "content" or "token":
                    request.Strings[name] = value.ValueKind switch
                    {
                        JsonValueKind.String => value.GetString(),
                        JsonValueKind.Null => null,
                        _ => request.Mistype<string>(name),
                    };
                    break;
                case "accountid" or "senderid" or "sessionid" or "msgid":
                    request.Ids[name] = value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var id) ? id
                        : value.ValueKind == JsonValueKind.Null ? null
                        : request.Mistype<ulong?>(name);
                    break;
                case "confirmreceipt":
                    if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    {
                        request.Mistyped ??= name;
                    }

                    break;
                case "code":
                    if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out _))
                    {
                        request.Mistyped ??= name;
                    }

                    break;
            }
        }

        return request;
    }

    private T? Mistype<T>(string name)
    {
        Mistyped ??= name;
        return default;
    }
}
