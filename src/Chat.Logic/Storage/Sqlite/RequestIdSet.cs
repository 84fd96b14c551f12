// Owns: the SQLite writer's memory of one session's requestIds (every one the session ever stored),
// as 64-bit hashes in an open-addressed table. What it costs: 8 bytes a slot, kept at most three
// quarters full, so 11-21 bytes per message of each session the writer has seen and that has not ended.
using System.Runtime.InteropServices;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// The hashes of (sender, requestId) of every message of one session. SQLite has no unique index on
/// request_id on purpose (one scattered page write per message, docs/storage.md), and the writer is
/// the file's only writer, so what it remembers is the truth: a hash not here was never stored; a
/// hash here is confirmed by reading the message, so a collision never refuses a new message.
/// Not thread-safe: the writer's loop alone uses it.
/// </summary>
internal sealed class RequestIdSet
{
    private ulong[] _slots = new ulong[16];
    private int _count;

    public bool Contains(ulong key)
    {
        var mask = _slots.Length - 1;
        for (var i = (int)key & mask; ; i = (i + 1) & mask)
        {
            var slot = _slots[i];
            if (slot == key)
            {
                return true;
            }

            if (slot == 0)
            {
                return false;
            }
        }
    }

    public void Add(ulong key)
    {
        if ((_count + 1) * 4 > _slots.Length * 3)
        {
            var old = _slots;
            _slots = new ulong[old.Length * 2];
            _count = 0;
            foreach (var slot in old)
            {
                if (slot != 0)
                {
                    Insert(slot);
                }
            }
        }

        Insert(key);
    }

    /// <summary>A hash of a sender's requestId, seeded per process; never 0 (which marks an empty slot).</summary>
    public static ulong KeyOf(ulong senderId, string requestId)
    {
        var bytes = MemoryMarshal.AsBytes(requestId.AsSpan());
        var low = new HashCode();
        low.Add(senderId);
        low.AddBytes(bytes);
        var high = new HashCode();
        high.Add(requestId.Length);
        high.AddBytes(bytes);
        high.Add(senderId);
        var key = ((ulong)(uint)high.ToHashCode() << 32) | (uint)low.ToHashCode();
        return key == 0 ? 1 : key;
    }

    private void Insert(ulong key)
    {
        var mask = _slots.Length - 1;
        for (var i = (int)key & mask; ; i = (i + 1) & mask)
        {
            if (_slots[i] == key)
            {
                return;
            }

            if (_slots[i] == 0)
            {
                _slots[i] = key;
                _count++;
                return;
            }
        }
    }
}
