using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;

namespace Chat.Relay.WebSockets;

/// <summary>
/// The HTTP/1.1 upgrade of RFC 6455 section 4.2, read straight from the connection's pipe: the
/// request must be <c>GET /ws</c> with <c>Upgrade: websocket</c>, version 13 and a key; anything
/// else gets a 4xx and the connection ends. No extension or subprotocol is negotiated.
/// </summary>
public static class Handshake
{
    /// <summary>The most header bytes read before the request is refused (431).</summary>
    public const int MaxRequestBytes = 8 * 1024;

    private static ReadOnlySpan<byte> Guid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    /// <summary>Reads the request and answers it; true when the socket now speaks WebSocket.</summary>
    public static async ValueTask<bool> AcceptAsync(IDuplexPipe transport, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await transport.Input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (TryFindEnd(buffer, out var end))
            {
                var request = buffer.Slice(0, end);
                var status = Answer(request.IsSingleSegment ? request.FirstSpan : request.ToArray(), transport.Output);
                transport.Input.AdvanceTo(buffer.GetPosition(end));
                await transport.Output.FlushAsync(cancellationToken);
                return status == 101;
            }

            if (buffer.Length > MaxRequestBytes || result.IsCompleted)
            {
                transport.Input.AdvanceTo(buffer.End);
                if (!result.IsCompleted)
                {
                    WriteRefusal(transport.Output, "431 Request Header Fields Too Large"u8);
                    await transport.Output.FlushAsync(cancellationToken);
                }

                return false;
            }

            transport.Input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>The length of the request up to and including its blank line.</summary>
    private static bool TryFindEnd(ReadOnlySequence<byte> buffer, out long end)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8))
        {
            end = reader.Consumed;
            return end <= MaxRequestBytes;
        }

        end = 0;
        return false;
    }

    /// <summary>Writes the response to <paramref name="request"/> and returns its status.</summary>
    internal static int Answer(ReadOnlySpan<byte> request, IBufferWriter<byte> output)
    {
        var lineEnd = request.IndexOf("\r\n"u8);
        var requestLine = request[..lineEnd];
        if (!requestLine.StartsWith("GET "u8) || !requestLine.EndsWith(" HTTP/1.1"u8))
        {
            WriteRefusal(output, "400 Bad Request"u8);
            return 400;
        }

        var target = requestLine[4..^9];
        var query = target.IndexOf((byte)'?');
        if (!(query < 0 ? target : target[..query]).SequenceEqual("/ws"u8))
        {
            WriteRefusal(output, "404 Not Found"u8);
            return 404;
        }

        ReadOnlySpan<byte> key = default;
        bool upgrade = false, connectionUpgrade = false, version13 = false;
        var rest = request[(lineEnd + 2)..];
        while (rest.IndexOf("\r\n"u8) is var next and > 0)
        {
            var line = rest[..next];
            rest = rest[(next + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ').Trim((byte)'\t');
            if (Ascii.EqualsIgnoreCase(name, "Upgrade"u8))
            {
                upgrade = Ascii.EqualsIgnoreCase(value, "websocket"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                connectionUpgrade = HasToken(value, "upgrade"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Version"u8))
            {
                version13 = value.SequenceEqual("13"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Key"u8))
            {
                key = value;
            }
        }

        // The key is 16 bytes in base64: 24 characters.
        if (!upgrade || !connectionUpgrade || !version13 || key.Length != 24)
        {
            WriteRefusal(output, "400 Bad Request"u8);
            return 400;
        }

        Span<byte> keyAndGuid = stackalloc byte[24 + 36];
        key.CopyTo(keyAndGuid);
        Guid.CopyTo(keyAndGuid[24..]);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key; it is no security boundary here.
        SHA1.HashData(keyAndGuid, hash);
#pragma warning restore CA5350
        var head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "u8;
        var span = output.GetSpan(head.Length + 28 + 4);
        head.CopyTo(span);
        Base64.EncodeToUtf8(hash, span[head.Length..], out _, out var accept);
        "\r\n\r\n"u8.CopyTo(span[(head.Length + accept)..]);
        output.Advance(head.Length + accept + 4);
        return 101;
    }

    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (var range in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[range].Trim((byte)' '), token))
            {
                return true;
            }
        }

        return false;
    }

    private static void WriteRefusal(IBufferWriter<byte> output, ReadOnlySpan<byte> status)
    {
        var head = "HTTP/1.1 "u8;
        var tail = "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8;
        var span = output.GetSpan(head.Length + status.Length + tail.Length);
        head.CopyTo(span);
        status.CopyTo(span[head.Length..]);
        tail.CopyTo(span[(head.Length + status.Length)..]);
        output.Advance(head.Length + status.Length + tail.Length);
    }
}
