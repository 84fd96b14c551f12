using System.Text;
using Chat.Testing.Network;
using CsCheck;

namespace Chat.Tests.Fuzzing;

/// <summary>
/// Bytes that break RFC 6455 itself, or the server's frame limits, each with the close status
/// docs/protocol.md gives for it ("Bad input"), or null for a case the socket survives.
/// </summary>
public sealed record WireCase(string Name, byte[][] Writes, ushort? Close, byte[]? Pong = null)
{
    public override string ToString() => $"{Name} ({Writes.Sum(w => w.Length)} bytes, expect {(Close is { } c ? $"close {c}" : "the socket to go on")})";
}

public static class HostileWire
{
    public const ushort ProtocolError = 1002;
    public const ushort UnsupportedData = 1003;
    public const ushort InvalidPayload = 1007;
    public const ushort MessageTooBig = 1009;

    private static readonly byte[] Stats = "{\"cmd\":\"STATS_REQ\"}"u8.ToArray();

    private static byte[] Text(ReadOnlySpan<byte> payload, bool fin = true) => RawWebSocket.Frame(WireOpcode.Text, payload, fin);

    /// <summary>UTF-8 no decoder may accept: a stray continuation byte, overlong forms, encoded surrogates, past U+10FFFF, cut short.</summary>
    private static readonly Gen<byte[]> InvalidUtf8 = Gen.OneOf(
        Gen.Const(new byte[] { 0x80 }), Gen.Const(new byte[] { 0xC0, 0xAF }), Gen.Const(new byte[] { 0xE0, 0x80, 0xAF }),
        Gen.Const(new byte[] { 0xED, 0xA0, 0x80 }), Gen.Const(new byte[] { 0xED, 0xBF, 0xBF }), Gen.Const(new byte[] { 0xF4, 0x90, 0x80, 0x80 }),
        Gen.Const(new byte[] { 0xFF }), Gen.Const(new byte[] { 0xFE }), Gen.Const(new byte[] { 0xF0, 0x9F, 0x98 }), Gen.Const(new byte[] { 0xC2 }));

    private static readonly Gen<byte[]> StatsWithInvalidUtf8 =
        Gen.Select(InvalidUtf8, Gen.Int[0, 100], byte[] (bad, at) =>
        {
            // Inside the cmd's string, or after the object: either way the frame is not UTF-8.
            var text = "{\"cmd\":\"STATS_REQ\",\"nickName\":\"ab\"}"u8.ToArray();
            var i = at % text.Length;
            return [.. text[..i], .. bad, .. text[i..]];
        });

    public static readonly Gen<WireCase> Case = Gen.OneOf(
        Gen.Const(new WireCase("unmasked text frame", [RawWebSocket.Frame(WireOpcode.Text, Stats, masked: false)], ProtocolError)),
        Gen.Int[1, 7].Select(rsv => new WireCase($"reserved bits {rsv}", [RawWebSocket.Frame(WireOpcode.Text, Stats, reserved: rsv)], ProtocolError)),
        Gen.OneOf(Gen.Const(3), Gen.Const(4), Gen.Const(5), Gen.Const(6), Gen.Const(7), Gen.Const(0xB), Gen.Const(0xC), Gen.Const(0xF))
            .Select(op => new WireCase($"reserved opcode {op:x}", [RawWebSocket.Frame((WireOpcode)op, Stats)], ProtocolError)),
        Gen.Const(new WireCase("a ping in pieces", [RawWebSocket.Frame(WireOpcode.Ping, "ab"u8, fin: false)], ProtocolError)),
        Gen.OneOf(Gen.Const(WireOpcode.Ping), Gen.Const(WireOpcode.Pong), Gen.Const(WireOpcode.Close))
            .Select(op => new WireCase($"{op} of 126 bytes", [RawWebSocket.Frame(op, new byte[126])], ProtocolError)),
        Gen.Const(new WireCase("continuation with nothing to continue", [RawWebSocket.Frame(WireOpcode.Continuation, Stats)], ProtocolError)),
        Gen.OneOf(Gen.Const(WireOpcode.Text), Gen.Const(WireOpcode.Binary)).Select(op =>
            new WireCase($"a new {op} message inside a fragmented one", [Text("{\"cmd\":"u8, fin: false), RawWebSocket.Frame(op, Stats)], ProtocolError)),
        Gen.Const(new WireCase("64-bit length with the top bit set", [RawWebSocket.Frame(WireOpcode.Text, Stats, declaredLength: 1UL << 63)], ProtocolError)),
        Gen.Const(new WireCase("binary frame", [RawWebSocket.Frame(WireOpcode.Binary, Stats)], UnsupportedData)),
        StatsWithInvalidUtf8.Select(bytes => new WireCase("invalid UTF-8", [Text(bytes)], InvalidPayload)),
        StatsWithInvalidUtf8.Select(bytes => new WireCase("invalid UTF-8 in a second fragment",
            [Text(bytes.AsSpan(0, bytes.Length / 2), fin: false), RawWebSocket.Frame(WireOpcode.Continuation, bytes.AsSpan(bytes.Length / 2))], InvalidPayload)),
        Gen.Int[1, 2000].Select(extra => new WireCase($"a frame {extra} bytes over 16 KiB", [Text(Padded(16 * 1024 + extra))], MessageTooBig)),
        Gen.Const(new WireCase("a length of 2^40 and 40 KiB of it", [RawWebSocket.Frame(WireOpcode.Text, Padded(40 * 1024), declaredLength: 1UL << 40)[..(10 + 4 + (40 * 1024))]], MessageTooBig)),
        Gen.Int[2, 6].Select(pieces => new WireCase($"{pieces} fragments adding up to over 16 KiB", Fragments(Padded(17 * 1024), pieces), MessageTooBig)),
        Gen.OneOf(Gen.Const((ushort)0), Gen.Const((ushort)999), Gen.Const((ushort)1004), Gen.Const((ushort)1005), Gen.Const((ushort)1006),
                Gen.Const((ushort)1015), Gen.Const((ushort)1016), Gen.Const((ushort)2999), Gen.Const((ushort)5000), Gen.Const(ushort.MaxValue))
            .Select(status => new WireCase($"close with status {status}", [RawWebSocket.Frame(WireOpcode.Close, RawWebSocket.ClosePayload(status))], ProtocolError)),
        Gen.Const(new WireCase("close with a one-byte payload", [RawWebSocket.Frame(WireOpcode.Close, [0x03])], ProtocolError)),
        Gen.OneOf(Gen.Const((ushort)1000), Gen.Const((ushort)1001), Gen.Const((ushort)3000), Gen.Const((ushort)4999))
            .Select(status => new WireCase($"close with status {status}", [RawWebSocket.Frame(WireOpcode.Close, RawWebSocket.ClosePayload(status, "bye"u8))], 1000)),
        // Control frames between the fragments of a message are allowed: the ping is answered, the message read whole.
        Gen.Select(Gen.Int[1, 18], Gen.Byte.Array[0, 125], (cut, ping) => new WireCase("a ping and a pong between fragments",
            [Text(Stats.AsSpan(0, cut), fin: false), RawWebSocket.Frame(WireOpcode.Ping, ping), RawWebSocket.Frame(WireOpcode.Pong, "x"u8),
             RawWebSocket.Frame(WireOpcode.Continuation, Stats.AsSpan(cut))], Close: null, Pong: ping)),
        Gen.Select(Gen.Int[0, 18], (cut) => new WireCase("an empty fragment first",
            [Text([], fin: false), RawWebSocket.Frame(WireOpcode.Continuation, Stats.AsSpan(0, cut), fin: false), RawWebSocket.Frame(WireOpcode.Continuation, Stats.AsSpan(cut))], Close: null)));

    private static byte[] Padded(int length)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill((byte)' ');
        Stats.CopyTo(bytes, 0);
        return bytes;
    }

    private static byte[][] Fragments(byte[] payload, int pieces)
    {
        var size = payload.Length / pieces;
        return [.. Enumerable.Range(0, pieces).Select(i =>
        {
            var part = payload.AsSpan(i * size, i == pieces - 1 ? payload.Length - (i * size) : size);
            return RawWebSocket.Frame(i == 0 ? WireOpcode.Text : WireOpcode.Continuation, part, fin: i == pieces - 1);
        })];
    }

    /// <summary>Text of a case for a failure message.</summary>
    public static string Describe(byte[] payload) => Encoding.UTF8.GetString(payload);
}
