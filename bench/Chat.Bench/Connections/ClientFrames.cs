using System.Buffers.Text;
using System.Text.Json;

namespace Chat.Bench.Connections;

/// <summary>
/// The frames the bench sends. Setup frames go through <see cref="Utf8JsonWriter"/>; the message
/// frame is a head built once per visitor (cmd, senderId, sessionId) plus a tail formatted into the
/// visitor's send buffer, so sending a message allocates nothing.
/// </summary>
public static class ClientFrames
{
    /// <summary>Content is <c>b.&lt;sender index&gt;.&lt;seq&gt;.&lt;timestamp&gt;.</c> padded with 'x'.</summary>
    public static ReadOnlySpan<byte> ContentMark => "b."u8;

    /// <param name="confirmReceipt">As the web client: it answers every push with PUSH_DIALOGUE_RESP.</param>
    public static byte[] CreateAccount(string nickName, bool confirmReceipt = false) => Json(w =>
    {
        w.WriteString("cmd"u8, "CRT_ACCOUNT_REQ"u8);
        w.WriteString("nickName"u8, nickName);
        if (confirmReceipt)
        {
            w.WriteBoolean("confirmReceipt"u8, true);
        }
    });

    public static byte[] Typing(ulong sessionId) => Json(w =>
    {
        w.WriteString("cmd"u8, "TYPING_REQ"u8);
        w.WriteNumber("sessionId"u8, sessionId);
    });

    /// <summary>The largest frame <see cref="WritePushDialogueResp"/> or <see cref="WriteViewedAck"/> writes.</summary>
    public const int AckCapacity = 160;

    /// <summary>The web client's confirmation of a push, as it sends it for every one: <c>{cmd, code: 0, msgId, sessionId}</c>.</summary>
    public static int WritePushDialogueResp(Span<byte> buffer, ulong sessionId, ulong msgId)
    {
        var n = Raw(buffer, 0, "{\"cmd\":\"PUSH_DIALOGUE_RESP\",\"code\":0,\"msgId\":"u8);
        n += Number(buffer[n..], msgId);
        n = Raw(buffer, n, ",\"sessionId\":"u8);
        n += Number(buffer[n..], sessionId);
        return Raw(buffer, n, "}"u8);
    }

    /// <summary>The web client's read receipt for the open, visible conversation: read up to <paramref name="msgId"/>.</summary>
    public static int WriteViewedAck(Span<byte> buffer, ulong sessionId, ulong accountId, ulong msgId)
    {
        var n = Raw(buffer, 0, "{\"cmd\":\"VIEWED_ACK_REQ\",\"sessionId\":"u8);
        n += Number(buffer[n..], sessionId);
        n = Raw(buffer, n, ",\"accountId\":"u8);
        n += Number(buffer[n..], accountId);
        n = Raw(buffer, n, ",\"msgId\":"u8);
        n += Number(buffer[n..], msgId);
        return Raw(buffer, n, "}"u8);
    }

    private static int Raw(Span<byte> buffer, int at, ReadOnlySpan<byte> text)
    {
        text.CopyTo(buffer[at..]);
        return at + text.Length;
    }

    public static byte[] Match(ulong accountId, IReadOnlyList<string>? interests = null) => Json(w =>
    {
        w.WriteString("cmd"u8, "MATCH_REQ"u8);
        w.WriteNumber("accountId"u8, accountId);
        if (interests is { Count: > 0 })
        {
            w.WriteStartArray("interests"u8);
            foreach (var interest in interests)
            {
                w.WriteStringValue(interest);
            }

            w.WriteEndArray();
        }
    });

    public static byte[] Reconnect(ulong accountId, string token) => Json(w =>
    {
        w.WriteString("cmd"u8, "RECONNECT_REQ"u8);
        w.WriteNumber("accountId"u8, accountId);
        w.WriteString("token"u8, token);
    });

    public static byte[] PingResp(ulong accountId) => Json(w =>
    {
        w.WriteString("cmd"u8, "PING_RESP"u8);
        w.WriteNumber("accountId"u8, accountId);
    });

    /// <summary>Everything of a DIALOGUE_REQ up to the requestId's value.</summary>
    public static byte[] DialogueHead(ulong senderId, ulong sessionId)
    {
        var json = Json(w =>
        {
            w.WriteString("cmd"u8, "DIALOGUE_REQ"u8);
            w.WriteNumber("senderId"u8, senderId);
            w.WriteNumber("sessionId"u8, sessionId);
        });
        byte[] head = [.. json.AsSpan(0, json.Length - 1), .. ",\"requestId\":\""u8];
        return head;
    }

    /// <summary>Writes one DIALOGUE_REQ into <paramref name="buffer"/>; returns its length.</summary>
    public static int WriteDialogue(Span<byte> buffer, ReadOnlySpan<byte> head, int senderIndex, long seq, long timestamp, int contentBytes)
    {
        head.CopyTo(buffer);
        var n = head.Length;
        n += Number(buffer[n..], seq);
        buffer[n++] = (byte)'.';
        n += Number(buffer[n..], timestamp);
        "\",\"content\":\""u8.CopyTo(buffer[n..]);
        n += 13;
        var contentStart = n;
        ContentMark.CopyTo(buffer[n..]);
        n += ContentMark.Length;
        n += Number(buffer[n..], senderIndex);
        buffer[n++] = (byte)'.';
        n += Number(buffer[n..], seq);
        buffer[n++] = (byte)'.';
        n += Number(buffer[n..], timestamp);
        buffer[n++] = (byte)'.';
        var pad = contentBytes - (n - contentStart);
        if (pad > 0)
        {
            buffer.Slice(n, pad).Fill((byte)'x');
            n += pad;
        }

        "\"}"u8.CopyTo(buffer[n..]);
        return n + 2;
    }

    /// <summary>The largest frame <see cref="WriteDialogue"/> writes for a given head and content size.</summary>
    public static int DialogueCapacity(int headLength, int contentBytes) => headLength + 2 * 20 + 16 + Math.Max(contentBytes, 80) + 8;

    /// <summary>Reads a requestId written by <see cref="WriteDialogue"/>: <c>seq.timestamp</c>.</summary>
    public static bool TryReadRequestId(ReadOnlySpan<byte> requestId, out long seq, out long timestamp)
    {
        timestamp = 0;
        return Utf8Parser.TryParse(requestId, out seq, out var used)
            && used < requestId.Length && requestId[used] == '.'
            && Utf8Parser.TryParse(requestId[(used + 1)..], out timestamp, out _);
    }

    /// <summary>Reads content written by <see cref="WriteDialogue"/>.</summary>
    public static bool TryReadContent(ReadOnlySpan<byte> content, out int senderIndex, out long seq, out long timestamp)
    {
        senderIndex = 0;
        seq = 0;
        timestamp = 0;
        if (!content.StartsWith(ContentMark))
        {
            return false;
        }

        var rest = content[ContentMark.Length..];
        if (!Utf8Parser.TryParse(rest, out senderIndex, out var used) || used >= rest.Length || rest[used] != '.')
        {
            return false;
        }

        rest = rest[(used + 1)..];
        if (!Utf8Parser.TryParse(rest, out seq, out used) || used >= rest.Length || rest[used] != '.')
        {
            return false;
        }

        rest = rest[(used + 1)..];
        return Utf8Parser.TryParse(rest, out timestamp, out _);
    }

    private static int Number(Span<byte> into, ulong value)
    {
        Utf8Formatter.TryFormat(value, into, out var written);
        return written;
    }

    private static int Number(Span<byte> into, long value)
    {
        Utf8Formatter.TryFormat(value, into, out var written);
        return written;
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream(128);
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }
}
