using System.Runtime.InteropServices;

namespace Chat.Logic.Sessions;

/// <summary>
/// One member's last <see cref="Capacity"/> requestIds in one session, so a retried DIALOGUE_REQ
/// is answered with the first attempt's message instead of storing it twice. Rebuilt from the
/// store when the session's grain activates. A requestId names a retry only in its session.
/// </summary>
/// <remarks>
/// A fixed ring of plain values: every active sender keeps its last 128 entries for a long time,
/// and references from them (requestId strings, commit tasks) made every garbage collection under
/// load copy the young strings and scan the old rings that pointed at them (docs/benchmarks.md).
/// The requestId is kept as a 64-bit hash, seeded per process; the commit task only until the
/// commit is done. Two requestIds of one sender with the same hash would make the second look like
/// a retry of the first: about one chance in 10^17 per message, and only the sender's own message.
/// Not thread-safe: the session grain's turns use it one at a time.
/// </remarks>
internal sealed class RecentRequests
{
    public const int Capacity = 128;

    private readonly Entry[] _ring = new Entry[Capacity];
    private int _next;

    /// <summary>The message stored (or being stored: <paramref name="committing"/>) under the requestId.</summary>
    public bool TryGet(string requestId, out ulong msgId, out Task? committing)
    {
        var slot = Find(KeyOf(requestId));
        if (slot < 0)
        {
            (msgId, committing) = (0, null);
            return false;
        }

        (msgId, committing) = (_ring[slot].MsgId, _ring[slot].Committing);
        return true;
    }

    public void Add(string requestId, ulong msgId, Task? committing)
    {
        _ring[_next] = new Entry(KeyOf(requestId), msgId, committing is { IsCompletedSuccessfully: false } ? committing : null);
        _next = (_next + 1) % Capacity;
    }

    /// <summary>The message is in the store: a retry needs only its id from now on.</summary>
    public void Committed(string requestId, ulong msgId)
    {
        var slot = Find(KeyOf(requestId));
        if (slot >= 0 && _ring[slot].MsgId == msgId)
        {
            _ring[slot].Committing = null;
        }
    }

    /// <summary>The message failed to store: forget it, so the next attempt stores it anew. Only that attempt's own entry goes.</summary>
    public void Failed(string requestId, ulong msgId)
    {
        var slot = Find(KeyOf(requestId));
        if (slot >= 0 && _ring[slot].MsgId == msgId)
        {
            _ring[slot] = default;
        }
    }

    // Newest first, so a requestId reused after a failed store write finds its latest attempt.
    private int Find(ulong key)
    {
        for (var i = 1; i <= Capacity; i++)
        {
            var slot = (_next - i + Capacity) % Capacity;
            if (_ring[slot].Key == key && _ring[slot].MsgId != 0)
            {
                return slot;
            }
        }

        return -1;
    }

    // Two 32-bit hashes with the process's random seed (HashCode), the second over a different prefix.
    private static ulong KeyOf(string requestId)
    {
        var bytes = MemoryMarshal.AsBytes(requestId.AsSpan());
        var low = new HashCode();
        low.AddBytes(bytes);
        var high = new HashCode();
        high.Add(requestId.Length);
        high.AddBytes(bytes);
        return ((ulong)(uint)high.ToHashCode() << 32) | (uint)low.ToHashCode();
    }

    private struct Entry(ulong key, ulong msgId, Task? committing)
    {
        public readonly ulong Key = key;
        public readonly ulong MsgId = msgId;
        public Task? Committing = committing;
    }
}
