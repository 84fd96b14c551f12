using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Chat.Testing.Network;

/// <summary>WebSocket opcodes (RFC 6455 section 5.2), with the reserved ones a hostile client may send.</summary>
public enum WireOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Reserved3 = 0x3,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
    ReservedB = 0xB,
}

/// <summary>One frame from the server, whole.</summary>
public sealed record WireFrame(bool Fin, WireOpcode Opcode, byte[] Payload)
{
    /// <summary>The status of a close frame; null for a close frame without one, or another frame.</summary>
    public ushort? CloseStatus => Opcode == WireOpcode.Close && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>
/// A WebSocket client straight over a <see cref="Socket"/> that writes any bytes, right or wrong:
/// frames unmasked, with reserved bits, lengths that lie, control frames in pieces. <c>ClientWebSocket</c>
/// only sends what RFC 6455 allows, so a test of what the server does with the rest needs this.
/// It reads the server's frames whole, one at a time.
/// </summary>
public sealed class RawWebSocket : IDisposable
{
    private const int MaxServerFrame = 1024 * 1024;
    private readonly Socket _socket;
    private byte[] _buffer = new byte[8192];
    private int _start;
    private int _end;

    private RawWebSocket(Socket socket) => _socket = socket;

    /// <summary>A TCP connection to the server of <paramref name="uri"/>, no upgrade yet (for a slow one).</summary>
    public static async Task<Socket> ConnectTcpAsync(Uri uri, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(uri.Host, uri.Port, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The HTTP upgrade request for <paramref name="uri"/> with <paramref name="key"/>.</summary>
    public static byte[] UpgradeRequest(Uri uri, string key) => Encoding.ASCII.GetBytes(
        $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");

    /// <summary>Connects and upgrades; throws when the server does not answer 101 with the right accept key.</summary>
    public static async Task<RawWebSocket> ConnectAsync(Uri uri, CancellationToken cancellationToken)
    {
        var ws = new RawWebSocket(await ConnectTcpAsync(uri, cancellationToken));
        try
        {
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            await ws.SendAsync(UpgradeRequest(uri, key), cancellationToken);
            var head = await ws.ReadHttpHeadAsync(cancellationToken)
                ?? throw new IOException("the server ended the connection during the upgrade");
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new IOException($"the server refused the upgrade: {head.Split("\r\n")[0]}");
            }

#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key; it is no security boundary here.
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            if (!head.Contains($"Sec-WebSocket-Accept: {accept}", StringComparison.OrdinalIgnoreCase))
            {
                throw new IOException("the server's Sec-WebSocket-Accept is wrong");
            }

            return ws;
        }
        catch
        {
            ws.Dispose();
            throw;
        }
    }

    /// <summary>Takes over a connected socket that has not been upgraded (or whose upgrade the caller wrote itself).</summary>
    public static RawWebSocket Over(Socket socket) => new(socket);

    /// <summary>
    /// One frame as bytes. <paramref name="declaredLength"/> replaces the payload's real length in the
    /// header (a lie); <paramref name="reserved"/> is put in the RSV1-3 bits (0-7).
    /// </summary>
    public static byte[] Frame(WireOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, int reserved = 0, ulong? declaredLength = null)
    {
        var length = declaredLength ?? (ulong)payload.Length;
        var headerLength = length < 126 ? 2 : length <= ushort.MaxValue ? 4 : 10;
        var frame = new byte[headerLength + (masked ? 4 : 0) + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | ((reserved & 7) << 4) | ((byte)opcode & 0x0F));
        var maskBit = masked ? 0x80 : 0;
        switch (headerLength)
        {
            case 2:
                frame[1] = (byte)(maskBit | (int)length);
                break;
            case 4:
                frame[1] = (byte)(maskBit | 126);
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)length);
                break;
            default:
                frame[1] = (byte)(maskBit | 127);
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), length);
                break;
        }

        var body = frame.AsSpan(headerLength + (masked ? 4 : 0));
        payload.CopyTo(body);
        if (masked)
        {
            var mask = frame.AsSpan(headerLength, 4);
            RandomNumberGenerator.Fill(mask);
            for (var i = 0; i < body.Length; i++)
            {
                body[i] ^= mask[i & 3];
            }
        }

        return frame;
    }

    /// <summary>A close frame's payload: the status, then the reason.</summary>
    public static byte[] ClosePayload(ushort status, ReadOnlySpan<byte> reason = default)
    {
        var payload = new byte[2 + reason.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, status);
        reason.CopyTo(payload.AsSpan(2));
        return payload;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            bytes = bytes[sent..];
        }
    }

    /// <summary>
    /// The next whole frame from the server (pongs included); null when the connection ended, also by
    /// a reset. A fragment is returned as it came: the server sends none.
    /// </summary>
    public async Task<WireFrame?> ReceiveAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryTake(out var frame))
            {
                return frame;
            }

            if (!await FillAsync(cancellationToken))
            {
                return null;
            }
        }
    }

    /// <summary>Reads frames until the server's close frame; its status (0 when it has none), or null when the connection ended without one.</summary>
    public async Task<ushort?> ReceiveCloseAsync(CancellationToken cancellationToken)
    {
        while (await ReceiveAsync(cancellationToken) is { } frame)
        {
            if (frame.Opcode == WireOpcode.Close)
            {
                return frame.CloseStatus ?? 0;
            }
        }

        return null;
    }

    /// <summary>Drops the connection without a close frame.</summary>
    public void Dispose() => _socket.Dispose();

    private bool TryTake(out WireFrame frame)
    {
        frame = null!;
        var available = _buffer.AsSpan(_start, _end - _start);
        if (available.Length < 2)
        {
            return false;
        }

        if ((available[1] & 0x80) != 0 || (available[0] & 0x70) != 0)
        {
            throw new IOException("the server sent a masked frame or reserved bits");
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
            length = wide > MaxServerFrame ? throw new IOException($"the server sent a frame of {wide} bytes") : (long)wide;
            at = 10;
        }

        if (available.Length < at + length)
        {
            if (at + length > _buffer.Length)
            {
                Array.Resize(ref _buffer, (int)(at + length));
            }

            return false;
        }

        frame = new WireFrame((available[0] & 0x80) != 0, (WireOpcode)(available[0] & 0x0F), available.Slice(at, (int)length).ToArray());
        _start += at + (int)length;
        return true;
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        try
        {
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
            _end += n;
            return n > 0;
        }
        catch (SocketException)
        {
            return false; // a reset: the connection ended
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes (an HTTP body); false when the server closed first.</summary>
    public async Task<bool> ReadBytesAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (!await FillAsync(cancellationToken))
            {
                return false;
            }
        }

        _start += count;
        return true;
    }

    /// <summary>Reads an HTTP response head; what came when the server closed first, or null when nothing did.</summary>
    public async Task<string?> ReadHttpHeadAsync(CancellationToken cancellationToken)
    {
        int headEnd;
        while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (!await FillAsync(cancellationToken))
            {
                return _end > _start ? Encoding.ASCII.GetString(_buffer, _start, _end - _start) : null;
            }
        }

        var head = Encoding.ASCII.GetString(_buffer, _start, headEnd);
        _start += headEnd + 4;
        return head;
    }
}
