using System.Runtime.InteropServices;

namespace Chat.Logic.Accounts;

/// <summary>A message handed to the store: its session and id, and the commit to wait for.</summary>
public readonly record struct PendingSend(ulong SessionId, ulong MsgId, Task Committed);

/// <summary>
/// The last <see cref="Capacity"/> requestIds of one sender, with their own lock, so a retried
/// DIALOGUE_REQ is answered with the first attempt's message instead of storing it twice. This is
/// the only duplicate check (the store has no unique index on requestIds): a retry is recognised
/// while its first attempt is among the sender's last 128 requests. After a restart logic reloads
/// each member's last 128 per active session from the store. A requestId names a retry only in
/// the session it was first sent to.
/// </summary>
/// <remarks>
/// A fixed ring of plain values: every active sender keeps its last 128 entries for a long time,
/// and references from them (a dictionary of requestId strings and commit tasks) made every
/// garbage collection copy the young strings and scan the old dictionaries that pointed at them.
/// Under 10k msg/s that tripled the length of each pause (docs/benchmarks.md). The requestId is
/// kept as a 64-bit hash, seeded per process; the commit task only until the commit is done.
/// Two requestIds of one sender and session with the same hash would make the second look like
/// a retry of the first: about one chance in 10^17 per message, and only the sender's own message.
/// </remarks>
public sealed class RecentRequests
{
    public const int Capacity = 128;

    private readonly Lock _lock = new();
    private readonly Entry[] _ring = new Entry[Capacity];
    private int _next;

    public bool TryGet(ulong sessionId, string requestId, out PendingSend pending)
    {
        var key = KeyOf(requestId);
        lock (_lock)
        {
            var slot = Find(sessionId, key);
            if (slot < 0)
            {
                pending = default;
                return false;
            }

            ref var entry = ref _ring[slot];
            pending = new PendingSend(sessionId, entry.MsgId, entry.Committing ?? Task.CompletedTask);
            return true;
        }
    }

    public void Add(string requestId, PendingSend pending)
    {
        var key = KeyOf(requestId);
        lock (_lock)
        {
            _ring[_next] = new Entry(key, pending.SessionId, pending.MsgId, pending.Committed.IsCompletedSuccessfully ? null : pending.Committed);
            _next = (_next + 1) % Capacity;
        }
    }

    /// <summary>The message is in the store: a retry needs only its id from now on.</summary>
    public void Committed(ulong sessionId, string requestId, ulong msgId)
    {
        var key = KeyOf(requestId);
        lock (_lock)
        {
            var slot = Find(sessionId, key);
            if (slot >= 0 && _ring[slot].MsgId == msgId)
            {
                _ring[slot].Committing = null;
            }
        }
    }

    public void Remove(ulong sessionId, string requestId)
    {
        var key = KeyOf(requestId);
        lock (_lock)
        {
            var slot = Find(sessionId, key);
            if (slot >= 0)
            {
                _ring[slot] = default;
            }
        }
    }

    // Newest first, so a requestId reused after a failed store write finds its latest attempt.
    private int Find(ulong sessionId, ulong key)
    {
        for (var i = 1; i <= Capacity; i++)
        {
            var slot = (_next - i + Capacity) % Capacity;
            ref var entry = ref _ring[slot];
            if (entry.Key == key && entry.SessionId == sessionId && entry.MsgId != 0)
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

    private struct Entry(ulong key, ulong sessionId, ulong msgId, Task? committing)
    {
        public readonly ulong Key = key;
        public readonly ulong SessionId = sessionId;
        public readonly ulong MsgId = msgId;
        public Task? Committing = committing;
    }
}
