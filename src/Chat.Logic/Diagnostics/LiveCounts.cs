using Chat.Logic.Storage;

namespace Chat.Logic.Diagnostics;

/// <summary>
/// Accounts online, visitors waiting and sessions active, as the store has them. One read serves
/// every caller for up to a second, and a change made through this node (<see cref="Changed"/>)
/// makes the next caller read again, so this node's own changes show at once and other nodes'
/// within a second.
/// </summary>
internal sealed class LiveCounts(IChatStore store, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    private readonly Lock _lock = new();
    private ChatCounts _counts;
    private long _readAt;
    private long _version;
    private long _readVersion = -1;
    private (long Version, Task<ChatCounts> Reading)? _reading;

    /// <summary>The counts as last read (for gauges, which cannot wait).</summary>
    public ChatCounts Last
    {
        get
        {
            lock (_lock)
            {
                return _counts;
            }
        }
    }

    /// <summary>Something this node did changed a count: the next read goes to the store.</summary>
    public void Changed() => Interlocked.Increment(ref _version);

    public async ValueTask<ChatCounts> ReadAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<ChatCounts>? mine = null;
        Task<ChatCounts> reading;
        long version;
        lock (_lock)
        {
            version = Interlocked.Read(ref _version);
            if (_readVersion == version && time.GetElapsedTime(_readAt) < MaxAge)
            {
                return _counts;
            }

            // Join a read that started after the last change; otherwise start one.
            if (_reading is not { } current || current.Version != version || current.Reading.IsCompleted)
            {
                mine = new TaskCompletionSource<ChatCounts>(TaskCreationOptions.RunContinuationsAsynchronously);
                current = (version, mine.Task);
                _reading = current;
            }

            reading = current.Reading;
        }

        if (mine is not null)
        {
            try
            {
                var counts = await store.ReadCountsAsync(CancellationToken.None);
                lock (_lock)
                {
                    if (version >= _readVersion)
                    {
                        (_counts, _readAt, _readVersion) = (counts, time.GetTimestamp(), version);
                    }
                }

                mine.SetResult(counts);
            }
            catch (Exception ex)
            {
                mine.SetException(ex);
            }
        }

        return await reading.WaitAsync(cancellationToken);
    }
}
