namespace Chat.Bench.Connections;

/// <summary>A growable bit set of message sequence numbers (1-based).</summary>
public sealed class SeqSet(int initialCapacity = 1024)
{
    private ulong[] bits = new ulong[Math.Max(1, (initialCapacity + 64) / 64)];

    public long Count { get; private set; }

    /// <summary>Adds <paramref name="seq"/>; false when it was already there.</summary>
    public bool Add(long seq)
    {
        var word = (int)(seq >> 6);
        if (word >= bits.Length)
        {
            Array.Resize(ref bits, Math.Max(word + 1, bits.Length * 2));
        }

        var mask = 1UL << (int)(seq & 63);
        if ((bits[word] & mask) != 0)
        {
            return false;
        }

        bits[word] |= mask;
        Count++;
        return true;
    }

    public bool Contains(long seq)
    {
        var word = (int)(seq >> 6);
        return word < bits.Length && (bits[word] & (1UL << (int)(seq & 63))) != 0;
    }

    /// <summary>How many of <paramref name="others"/>'s members are missing here.</summary>
    public long CountMissing(SeqSet others, long from = 0, long to = long.MaxValue)
    {
        long missing = 0;
        var last = Math.Min(to, (long)others.bits.Length * 64 - 1);
        for (var seq = Math.Max(from, 0); seq <= last; seq++)
        {
            if (others.Contains(seq) && !Contains(seq))
            {
                missing++;
            }
        }

        return missing;
    }

    /// <summary>How many members lie in [<paramref name="from"/>, <paramref name="to"/>].</summary>
    public long CountIn(long from, long to)
    {
        long n = 0;
        for (var seq = Math.Max(from, 0); seq <= to; seq++)
        {
            if (Contains(seq))
            {
                n++;
            }
        }

        return n;
    }
}
