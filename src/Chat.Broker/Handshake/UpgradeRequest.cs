using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Chat.Broker.Handshake;

/// <summary>
/// A WebSocket opening handshake (RFC 6455 section 4.2.1) read from the first bytes of a connection, strictly:
/// <c>GET target HTTP/1.1</c>, header lines of visible ASCII, one Host, <c>Upgrade: websocket</c>, a
/// <c>Connection</c> naming <c>upgrade</c>, version 13, a 16-byte key, and no body. Anything else is not
/// parsed here at all: the connection goes to Kestrel's HTTP/1.1 as it came, which answers it as it always has.
/// </summary>
internal sealed class UpgradeRequest
{
    /// <summary>The most bytes a head may have to be taken here (Kestrel takes larger ones, up to its own limit).</summary>
    public const int MaxHeadBytes = 8 * 1024;

    private const int MaxHeaders = 64;

    private UpgradeRequest(string path, string query, IHeaderDictionary headers, string key)
    {
        Path = path;
        Query = query;
        Headers = headers;
        Key = key;
    }

    public string Path { get; }

    /// <summary>The query with its <c>?</c>, or empty.</summary>
    public string Query { get; }

    public IHeaderDictionary Headers { get; }

    /// <summary>Sec-WebSocket-Key as sent (24 characters of base64).</summary>
    public string Key { get; }

    /// <summary>
    /// Whether <paramref name="start"/> can still begin a request this class would take for the path in
    /// <paramref name="requestLine"/> (<c>GET /ws</c>, the path compared without regard to case, then a space or
    /// <c>?</c>): only then are more bytes worth waiting for; a request for another path goes to Kestrel at once.
    /// </summary>
    public static bool MayBeFor(ReadOnlySpan<byte> start, ReadOnlySpan<byte> requestLine)
    {
        var common = Math.Min(start.Length, requestLine.Length);
        if (!start[..common].StartsWith("GET "u8[..Math.Min(common, 4)]) || !System.Text.Ascii.EqualsIgnoreCase(start[..common], requestLine[..common]))
        {
            return false;
        }

        return start.Length <= requestLine.Length || start[requestLine.Length] is (byte)' ' or (byte)'?';
    }

    /// <summary>The handshake in <paramref name="head"/> (everything up to and including the blank line), or null.</summary>
    public static UpgradeRequest? Parse(ReadOnlySpan<byte> head)
    {
        if (head.Length > MaxHeadBytes || !head.EndsWith("\r\n\r\n"u8))
        {
            return null;
        }

        var lineEnd = head.IndexOf("\r\n"u8);
        var line = head[..lineEnd];
        if (!line.StartsWith("GET "u8) || !line.EndsWith(" HTTP/1.1"u8))
        {
            return null;
        }

        var target = line[4..^9];
        if (target.IsEmpty || target[0] != (byte)'/' || !IsTarget(target))
        {
            return null;
        }

        var question = target.IndexOf((byte)'?');
        var path = question < 0 ? target : target[..question];
        var query = question < 0 ? [] : target[question..];

        IHeaderDictionary headers = new HeaderDictionary();
        var rest = head[(lineEnd + 2)..^2]; // the header lines, each ending in CRLF
        var count = 0;
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var header = rest[..end];
            rest = rest[(end + 2)..];
            var colon = header.IndexOf((byte)':');
            if (colon <= 0 || ++count > MaxHeaders || !IsToken(header[..colon]))
            {
                return null; // also an obs-folded line, which starts with a space
            }

            var value = header[(colon + 1)..].Trim(" \t"u8);
            if (!IsFieldValue(value))
            {
                return null;
            }

            var name = Encoding.ASCII.GetString(header[..colon]);
            var text = Encoding.ASCII.GetString(value);
            headers[name] = headers.TryGetValue(name, out var earlier) ? StringValues.Concat(earlier, text) : new StringValues(text);
        }

        if (headers.Host.Count != 1 || headers.Host[0] is not { Length: > 0 }
            || headers.ContentLength is not null || headers.ContainsKey("Content-Length") || headers.ContainsKey("Transfer-Encoding")
            || headers.Upgrade.Count != 1 || !string.Equals(headers.Upgrade[0], "websocket", StringComparison.OrdinalIgnoreCase)
            || !NamesUpgrade(headers.Connection)
            || headers.SecWebSocketVersion.Count != 1 || headers.SecWebSocketVersion[0] != "13"
            || headers.SecWebSocketKey.Count != 1 || !IsKey(headers.SecWebSocketKey[0]))
        {
            return null;
        }

        return new UpgradeRequest(Encoding.ASCII.GetString(path), Encoding.ASCII.GetString(query), headers, headers.SecWebSocketKey[0]!);
    }

    /// <summary>Visible ASCII, no fragment: what is left (percent-encoding, dot segments) Kestrel's own parser would have to judge.</summary>
    private static bool IsTarget(ReadOnlySpan<byte> target)
    {
        foreach (var b in target)
        {
            if (b is < 0x21 or > 0x7E or (byte)'#' or (byte)'%' or (byte)'\\')
            {
                return false;
            }
        }

        return target.IndexOf("/."u8) < 0; // no dot segments either
    }

    /// <summary>RFC 9110 token characters.</summary>
    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || "!#$%&'*+-.^_`|~"u8.Contains(b)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Visible ASCII, spaces and tabs: no control characters, no bytes above 0x7E.</summary>
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is (< 0x20 and not (byte)'\t') or > 0x7E)
            {
                return false;
            }
        }

        return true;
    }

    private static bool NamesUpgrade(StringValues connection)
    {
        foreach (var value in connection)
        {
            foreach (var token in (value ?? "").Split(',', StringSplitOptions.TrimEntries))
            {
                if (string.Equals(token, "upgrade", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>16 bytes in base64 (RFC 6455 section 4.2.1, item 5).</summary>
    private static bool IsKey(string? key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return key is { Length: 24 } && Base64.IsValid(key, out var length) && length == 16
            && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }
}
