using System.Buffers.Text;

namespace Chat.Relay.WebSockets;

/// <summary>
/// Composes a server text frame's JSON in place: literals, numbers, and tokens that are already
/// JSON (a client's string tokens, an escaped nickname) copied as they are.
/// </summary>
public ref struct FrameText(Span<byte> into)
{
    private readonly Span<byte> into = into;
    private int length;

    public readonly int Length => length;

    public void Raw(ReadOnlySpan<byte> json)
    {
        json.CopyTo(into[length..]);
        length += json.Length;
    }

    public void Number(ulong value)
    {
        Utf8Formatter.TryFormat(value, into[length..], out var written);
        length += written;
    }

    public void Number(long value)
    {
        Utf8Formatter.TryFormat(value, into[length..], out var written);
        length += written;
    }

    /// <summary>A string whose bytes need no escaping (or are escaped already), quoted.</summary>
    public void String(ReadOnlySpan<byte> escaped)
    {
        into[length++] = (byte)'"';
        Raw(escaped);
        into[length++] = (byte)'"';
    }
}
