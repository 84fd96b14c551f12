using System.Runtime.InteropServices;

using Chat.Logic.Storage;

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

    // Keys apart from the rest, so a lookup (every message makes one, and most find nothing) is one vectorized scan.
    private readonly ulong[] _keys = new ulong[Capacity];
    private readonly Entry[] _ring = new Entry[Capacity];
    private int _next;

    /// <summary>The message stored (or being stored: <paramref name="committing"/>) under the requestId.</summary>
    public bool TryGet(string requestId, out ulong msgId, out Task<WriteOutcome>? committing)
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

    public void Add(string requestId, ulong msgId, Task<WriteOutcome>? committing)
    {
        _keys[_next] = KeyOf(requestId);
        _ring[_next] = new Entry(msgId, committing is { IsCompletedSuccessfully: false } ? committing : null);
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
            _keys[slot] = 0;
            _ring[slot] = default;
        }
    }

    // Newest first (the slots before _next, then the older ones after it), so a requestId reused
    // after a failed store write finds its latest attempt. Key 0 marks an empty slot.
    private int Find(ulong key)
    {
        if (key == 0)
        {
            return -1;
        }

        var newer = _keys.AsSpan(0, _next).LastIndexOf(key);
        if (newer >= 0)
        {
            return newer;
        }

        var older = _keys.AsSpan(_next).LastIndexOf(key);
        return older < 0 ? -1 : _next + older;
    }

    // Two 32-bit hashes with the process's random seed (HashCode), the second over a different prefix.
    internal static ulong KeyOf(string requestId)
    {
        var bytes = MemoryMarshal.AsBytes(requestId.AsSpan());
        var low = new HashCode();
        low.AddBytes(bytes);
        var high = new HashCode();
        high.Add(requestId.Length);
        high.AddBytes(bytes);
        return ((ulong)(uint)high.ToHashCode() << 32) | (uint)low.ToHashCode();
    }

    private struct Entry(ulong msgId, Task<WriteOutcome>? committing)
    {
        public readonly ulong MsgId = msgId;
        public Task<WriteOutcome>? Committing = committing;
    }
}
