using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Chat.Relay.WebSockets;

public enum Opcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>Close status codes of RFC 6455 section 7.4.1 that the relay sends.</summary>
public static class CloseStatus
{
    public const ushort Normal = 1000;
    public const ushort ProtocolError = 1002;
    public const ushort UnsupportedData = 1003;
    public const ushort InvalidPayload = 1007;
    public const ushort MessageTooBig = 1009;
}

/// <summary>A client frame's header: what follows it and how its payload is masked.</summary>
public readonly record struct FrameHeader(bool Fin, Opcode Opcode, int HeaderLength, long PayloadLength, uint Mask)
{
    public bool IsControl => ((byte)Opcode & 0x8) != 0;
}

public enum HeaderRead
{
    /// <summary>More bytes are needed to read the header.</summary>
    Incomplete,
    Ok,

    /// <summary>Not a valid client frame: unmasked, reserved bits set, or a malformed control frame.</summary>
    ProtocolError,
}

/// <summary>RFC 6455 section 5 framing: client frames are masked, server frames are not.</summary>
public static class Frames
{
    /// <summary>The largest server frame header: 2 bytes, and 8 of extended length.</summary>
    public const int MaxServerHeader = 10;

    public static HeaderRead TryReadHeader(in ReadOnlySequence<byte> buffer, out FrameHeader header)
    {
        header = default;
        Span<byte> copy = stackalloc byte[14];
        scoped ReadOnlySpan<byte> head;
        if (buffer.FirstSpan.Length >= 14 || buffer.IsSingleSegment)
        {
            head = buffer.FirstSpan;
        }
        else
        {
            var n = (int)Math.Min(14, buffer.Length);
            buffer.Slice(0, n).CopyTo(copy);
            head = copy[..n];
        }

        if (head.Length < 2)
        {
            return HeaderRead.Incomplete;
        }

        var fin = (head[0] & 0x80) != 0;
        var reserved = head[0] & 0x70;
        var opcode = (Opcode)(head[0] & 0x0F);
        var masked = (head[1] & 0x80) != 0;
        long length = head[1] & 0x7F;
        var at = 2;
        if (length == 126)
        {
            if (head.Length < 4)
            {
                return HeaderRead.Incomplete;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(head[2..]);
            at = 4;
        }
        else if (length == 127)
        {
            if (head.Length < 10)
            {
                return HeaderRead.Incomplete;
            }

            var wide = BinaryPrimitives.ReadUInt64BigEndian(head[2..]);
            // The most significant bit must be 0; anything this long is refused as too big anyway.
            length = wide > long.MaxValue ? long.MaxValue : (long)wide;
            at = 10;
        }

        if (!masked || reserved != 0)
        {
            return HeaderRead.ProtocolError;
        }

        if (head.Length < at + 4)
        {
            return HeaderRead.Incomplete;
        }

        header = new FrameHeader(fin, opcode, at + 4, length, MemoryMarshal.Read<uint>(head[at..]));
        return header.IsControl && (!fin || length > 125) ? HeaderRead.ProtocolError : HeaderRead.Ok;
    }

    /// <summary>XORs <paramref name="data"/> with the 4-byte mask, which starts over at each frame.</summary>
    public static void Unmask(Span<byte> data, uint mask)
    {
        var wide = ((ulong)mask << 32) | mask;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        for (var i = 0; i < words.Length; i++)
        {
            words[i] ^= wide;
        }

        var done = words.Length * 8;
        for (var i = done; i < data.Length; i++)
        {
            data[i] ^= (byte)(mask >> (8 * (i & 3)));
        }
    }

    /// <summary>Writes a final, unmasked frame header in front of a payload of <paramref name="length"/> bytes.</summary>
    public static int WriteHeader(Span<byte> into, Opcode opcode, int length)
    {
        into[0] = (byte)(0x80 | (byte)opcode);
        if (length < 126)
        {
            into[1] = (byte)length;
            return 2;
        }

        if (length <= ushort.MaxValue)
        {
            into[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(into[2..], (ushort)length);
            return 4;
        }

        into[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(into[2..], (ulong)length);
        return 10;
    }

    public static int HeaderLength(int payloadLength) => payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;
}
