using Chat.Logic.Storage;

namespace Chat.Logic.Ids;

/// <summary>
/// Hands out account, session and message ids on this node from blocks reserved in the store
/// (hi/lo): unique across nodes, below 2^53, one store round trip per block. The next block is
/// reserved when a quarter of the current one is left, so ids rarely wait for the store. Ids of
/// one kind rise on this node; across nodes they interleave by block.
/// </summary>
internal sealed class IdAllocator(IChatStore store)
{
    private readonly Block[] _blocks =
    [
        new(store, IdKind.Account, 256),
        new(store, IdKind.Session, 256),
        new(store, IdKind.Message, 16384),
    ];

    /// <summary>A new id of the kind.</summary>
    public async ValueTask<ulong> NextAsync(IdKind kind)
    {
        ulong id;
        while (!TryTake(kind, 0, out id))
        {
            await WhenAvailableAsync(kind, 0);
        }

        return id;
    }

    /// <summary>
    /// Takes an id of the kind above <paramref name="above"/> if this node's block has one. A
    /// session takes its msgIds here, within one turn, so they rise in the order it stores them;
    /// passing its last msgId means a session rebuilt on a node whose block is lower never repeats one.
    /// </summary>
    public bool TryTake(IdKind kind, ulong above, out ulong id) => _blocks[(int)kind].TryTake(above, out id);

    /// <summary>Completes when this node holds ids of the kind above <paramref name="above"/> (another taker may still get them first).</summary>
    public Task WhenAvailableAsync(IdKind kind, ulong above) => _blocks[(int)kind].WhenAvailableAsync(above);

    private sealed class Block(IChatStore store, IdKind kind, int size)
    {
        private readonly Lock _lock = new();
        private ulong _next;
        private ulong _end;
        private Task<ulong>? _reserving;

        public bool TryTake(ulong above, out ulong id)
        {
            lock (_lock)
            {
                return TryTakeLocked(above, out id);
            }
        }

        public async Task WhenAvailableAsync(ulong above)
        {
            while (true)
            {
                Task<ulong> reserving;
                lock (_lock)
                {
                    if (Math.Max(_next, above + 1) < _end)
                    {
                        return;
                    }

                    reserving = _reserving ??= ReserveAsync();
                }

                ulong first;
                try
                {
                    first = await reserving;
                }
                finally
                {
                    lock (_lock)
                    {
                        if (_reserving == reserving)
                        {
                            _reserving = null; // taken (below) or failed: the next caller asks again
                        }
                    }
                }

                lock (_lock)
                {
                    if (first >= _end)
                    {
                        (_next, _end) = (first, first + (ulong)size);
                    }
                }
            }
        }

        /// <summary>Takes an id from the current block, reserving the next in the background when it runs low.</summary>
        private bool TryTakeLocked(ulong above, out ulong id)
        {
            if (_next <= above)
            {
                _next = Math.Min(above + 1, _end); // ours alone up to _end: skipping within the block is safe
            }

            if (_next < _end)
            {
                id = _next++;
                if (_end - _next < (ulong)size / 4)
                {
                    _reserving ??= ReserveAsync();
                }

                return true;
            }

            id = 0;
            return false;
        }

        // Never on the caller's thread: a store call may block (SQLite's do), and the caller may be a grain's turn or hold the lock.
        private Task<ulong> ReserveAsync() => Task.Run(() => store.ReserveIdsAsync(kind, size, CancellationToken.None));
    }
}
