using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Chat.Bench.Connections;

/// <summary>A whole message or control frame from the server.</summary>
public readonly record struct Incoming(WebSocketOpcode Opcode, ReadOnlyMemory<byte> Payload);

public enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>
/// The client end of a WebSocket (RFC 6455) straight over a <see cref="Socket"/>: the upgrade,
/// masked frames out, whole messages in. It replaces <c>ClientWebSocket</c>, whose layers (an HTTP
/// connection stream, a frame lock, a cryptographic mask per frame, a cancellation registration
/// per call) cost the bench about a third of its CPU per message on the cores it shares with the
/// server under test. Masks come from a per-socket xorshift: the server cannot tell, and a load
/// generator talking to its own server needs no protection from cache-poisoning proxies.
/// Sends are not serialized here (the visitor holds a lock); one loop receives.
/// </summary>
public sealed class VisitorSocket : IDisposable
{
    /// <summary>The room a frame's payload needs in front of it for the header and mask.</summary>
    public const int HeaderRoom = 14;

    /// <summary>The largest server message the bench accepts.</summary>
    public const int MaxMessageBytes = 1024 * 1024;

    private readonly Socket socket;
    private byte[] buffer;
    private int start;
    private int end;
    private uint maskState;
    private byte[]? fragments;
    private int fragmentsLength;

    private VisitorSocket(Socket socket, int receiveBufferBytes)
    {
        this.socket = socket;
        buffer = new byte[Math.Max(receiveBufferBytes, 256)];
        maskState = (uint)Random.Shared.Next(1, int.MaxValue);
    }

    /// <summary>Did the upgrade on a connected socket; the socket belongs to the result (or is disposed).</summary>
    public static async Task<VisitorSocket> UpgradeAsync(Socket socket, Uri server, int receiveBufferBytes, CancellationToken cancellationToken)
    {
        var ws = new VisitorSocket(socket, receiveBufferBytes);
        try
        {
            await ws.HandshakeAsync(server, cancellationToken);
            return ws;
        }
        catch
        {
            ws.Dispose();
            throw;
        }
    }

    private async Task HandshakeAsync(Uri server, CancellationToken cancellationToken)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {server.PathAndQuery} HTTP/1.1\r\nHost: {server.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, cancellationToken);

        int headEnd;
        while ((headEnd = buffer.AsSpan(0, end).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (end == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }

            var n = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, cancellationToken);
            if (n == 0 || end > 16 * 1024)
            {
                throw new WebSocketException("the server ended the upgrade");
            }

            end += n;
        }

        var head = Encoding.ASCII.GetString(buffer, 0, headEnd);
        start = headEnd + 4;
        if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new WebSocketException($"the server refused the upgrade: {head.Split("\r\n")[0]}");
        }

#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key; it is no security boundary here.
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        if (!head.Split("\r\n").Any(line => line.StartsWith("Sec-WebSocket-Accept:", StringComparison.OrdinalIgnoreCase) && line[21..].Trim() == accept))
        {
            throw new WebSocketException("the server's Sec-WebSocket-Accept is wrong");
        }
    }

    /// <summary>
    /// Sends one final text frame whose payload is at <c>frame[HeaderRoom..HeaderRoom + length]</c>.
    /// The payload is masked in place: the caller writes it anew for every send.
    /// </summary>
    public ValueTask SendAsync(byte[] frame, int length) => SendAsync(frame, WebSocketOpcode.Text, length);

    /// <summary>Sends a copy of <paramref name="payload"/> (setup frames, pings: not the message path).</summary>
    public ValueTask SendCopyAsync(ReadOnlySpan<byte> payload, WebSocketOpcode opcode = WebSocketOpcode.Text)
    {
        var frame = new byte[HeaderRoom + payload.Length];
        payload.CopyTo(frame.AsSpan(HeaderRoom));
        return SendAsync(frame, opcode, payload.Length);
    }

    public ValueTask SendCloseAsync(WebSocketCloseStatus status)
    {
        Span<byte> code = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(code, (ushort)status);
        return SendCopyAsync(code, WebSocketOpcode.Close);
    }

    private ValueTask SendAsync(byte[] frame, WebSocketOpcode opcode, int length)
    {
        var headerLength = length < 126 ? 2 : length <= ushort.MaxValue ? 4 : 10;
        var at = HeaderRoom - headerLength - 4;
        var header = frame.AsSpan(at);
        header[0] = (byte)(0x80 | (byte)opcode);
        if (headerLength == 2)
        {
            header[1] = (byte)(0x80 | length);
        }
        else if (headerLength == 4)
        {
            header[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)length);
        }
        else
        {
            header[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(header[2..], (ulong)length);
        }

        var mask = NextMask();
        MemoryMarshal.Write(header[headerLength..], in mask);
        Mask(frame.AsSpan(HeaderRoom, length), mask);
        var send = socket.SendAsync(frame.AsMemory(at, headerLength + 4 + length), SocketFlags.None);
        return send.IsCompletedSuccessfully ? ValueTask.CompletedTask : AwaitSend(send);

        static async ValueTask AwaitSend(ValueTask<int> pending) => await pending;
    }

    /// <summary>
    /// The next whole message or control frame already received, if any; pongs are skipped.
    /// Its payload stays valid until the next <see cref="ReceiveAsync"/>.
    /// </summary>
    public bool TryTake(out Incoming incoming)
    {
        while (true)
        {
            incoming = default;
            var available = buffer.AsSpan(start, end - start);
            if (available.Length < 2)
            {
                return false;
            }

            var fin = (available[0] & 0x80) != 0;
            var opcode = (WebSocketOpcode)(available[0] & 0x0F);
            if ((available[0] & 0x70) != 0 || (available[1] & 0x80) != 0)
            {
                throw new WebSocketException("the server sent reserved bits or a masked frame");
            }

            long length = available[1] & 0x7F;
            var at = 2;
            if (length == 126)
            {
                if (available.Length < 4)
                {
                    return false;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(available[2..]);
                at = 4;
            }
            else if (length == 127)
            {
                if (available.Length < 10)
                {
                    return false;
                }

                var wide = BinaryPrimitives.ReadUInt64BigEndian(available[2..]);
                length = wide > MaxMessageBytes ? long.MaxValue : (long)wide;
                at = 10;
            }

            if (length > MaxMessageBytes - fragmentsLength)
            {
                throw new WebSocketException($"the server sent a message over {MaxMessageBytes} bytes");
            }

            if (available.Length < at + length)
            {
                return false;
            }

            var payload = buffer.AsMemory(start + at, (int)length);
            start += at + (int)length;
            switch (opcode)
            {
                case WebSocketOpcode.Text when fragments is null && fin:
                case WebSocketOpcode.Binary when fragments is null && fin:
                case WebSocketOpcode.Close or WebSocketOpcode.Ping:
                    incoming = new Incoming(opcode, payload);
                    return true;
                case WebSocketOpcode.Pong:
                    continue;
                case WebSocketOpcode.Text or WebSocketOpcode.Binary when fragments is null:
                    fragments = new byte[Math.Max(1024, payload.Length * 2)];
                    payload.Span.CopyTo(fragments);
                    fragmentsLength = payload.Length;
                    continue;
                case WebSocketOpcode.Continuation when fragments is not null:
                    if (fragmentsLength + payload.Length > fragments.Length)
                    {
                        Array.Resize(ref fragments, Math.Max(fragments.Length * 2, fragmentsLength + payload.Length));
                    }

                    payload.Span.CopyTo(fragments.AsSpan(fragmentsLength));
                    fragmentsLength += payload.Length;
                    if (!fin)
                    {
                        continue;
                    }

                    incoming = new Incoming(WebSocketOpcode.Text, fragments.AsMemory(0, fragmentsLength));
                    fragments = null;
                    fragmentsLength = 0;
                    return true;
                default:
                    throw new WebSocketException($"unexpected opcode {opcode}");
            }
        }
    }

    /// <summary>
    /// Receives more bytes after what is left; pass the count to <see cref="Received"/>. Not an
    /// async method: its state would be boxed anew for every frame that has to be waited for.
    /// </summary>
    public ValueTask<int> ReceiveAsync()
    {
        if (start == end)
        {
            start = end = 0;
        }
        else if (start > 0)
        {
            buffer.AsSpan(start, end - start).CopyTo(buffer);
            end -= start;
            start = 0;
        }

        if (end == buffer.Length)
        {
            Array.Resize(ref buffer, buffer.Length * 2);
        }

        return socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None);
    }

    /// <summary>Takes in <paramref name="count"/> bytes received; false when the server ended the connection.</summary>
    public bool Received(int count)
    {
        end += count;
        return count > 0;
    }

    /// <summary>Drops the connection without a close frame, as a lost network would.</summary>
    public void Abort() => socket.Dispose();

    public void Dispose() => socket.Dispose();

    private uint NextMask()
    {
        var x = maskState;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        maskState = x;
        return x;
    }

    private static void Mask(Span<byte> data, uint mask)
    {
        var wide = ((ulong)mask << 32) | mask;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        for (var i = 0; i < words.Length; i++)
        {
            words[i] ^= wide;
        }

        for (var i = words.Length * 8; i < data.Length; i++)
        {
            data[i] ^= (byte)(mask >> (8 * (i & 3)));
        }
    }
}
