using System.Runtime.InteropServices;

namespace Chat.Logic.Storage.Sqlite;

/// <summary>
/// The requestIds of a session's last <see cref="Capacity"/> stored messages (both senders), as the
/// SQLite writer knows them, so a message stored again under its sender's requestId is refused with
/// its first msgId. SQLite has no unique index on request_id on purpose (one scattered page write per
/// message, docs/storage.md); the writer is the file's only writer, so what it remembers is the truth.
/// </summary>
/// <remarks>
/// Kept as 64-bit hashes of (sender, requestId), seeded per process; a hit is confirmed by reading the
/// message row, so a hash collision can never refuse a new message. A repeat older than the
/// session's last <see cref="Capacity"/> messages is not recognised here (the session grain's own
/// ring of each sender's last 128 catches the retries clients make).
/// </remarks>
internal sealed class SessionRequestIds
{
    public const int Capacity = 64;

    private readonly ulong[] _keys = new ulong[Capacity];
    private readonly ulong[] _msgIds = new ulong[Capacity];
    private int _next;

    /// <summary>The msgId remembered under the key, newest first; 0 when none.</summary>
    public ulong Find(ulong key)
    {
        var newer = _keys.AsSpan(0, _next).LastIndexOf(key);
        if (newer >= 0)
        {
            return _msgIds[newer];
        }

        var older = _keys.AsSpan(_next).LastIndexOf(key);
        return older < 0 ? 0 : _msgIds[_next + older];
    }

    public void Add(ulong key, ulong msgId)
    {
        _keys[_next] = key;
        _msgIds[_next] = msgId;
        _next = (_next + 1) % Capacity;
    }

    /// <summary>A hash of a sender's requestId; never 0 (which marks an empty slot).</summary>
    public static ulong KeyOf(ulong senderId, string requestId)
    {
        var low = new HashCode();
        low.Add(senderId);
        low.AddBytes(MemoryMarshal.AsBytes(requestId.AsSpan()));
        var high = new HashCode();
        high.Add(requestId.Length);
        high.AddBytes(MemoryMarshal.AsBytes(requestId.AsSpan()));
        high.Add(senderId);
        var key = ((ulong)(uint)high.ToHashCode() << 32) | (uint)low.ToHashCode();
        return key == 0 ? 1 : key;
    }
}
