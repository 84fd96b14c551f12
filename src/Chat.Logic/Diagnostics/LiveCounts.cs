using System.Diagnostics;
using Chat.Logic.Storage;

namespace Chat.Logic.Diagnostics;

/// <summary>
/// Accounts online, visitors waiting and sessions active, as the store has them. One read serves
/// every caller for up to a second, and a change made through this node (<see cref="Changed"/>)
/// makes the next caller wait for a read that began after it, so this node's own changes show at
/// once and other nodes' within a second.
/// </summary>
/// <remarks>
/// The counts are three counting queries, and any visitor may ask for them (STATS_REQ, which the
/// seed's client repeats while it waits) as often as its frame rate allows, while the node's
/// changes never stop in a busy hour. So at most one read is in flight: whoever asks meanwhile,
/// after a change, waits for the one read that follows it (it sees every change made before it
/// starts), and reads start at least <see cref="MinSpacing"/> apart. However many ask, the store
/// counts at most 10 times a second per node.
/// </remarks>
internal sealed class LiveCounts(IChatStore store, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    /// <summary>The least time between the starts of two reads (real time: a rate, not a rule of the chat).</summary>
    public static readonly TimeSpan MinSpacing = TimeSpan.FromMilliseconds(100);

    private readonly Lock _lock = new();
    private ChatCounts _counts;
    private long _readAt;
    private long _version;
    private long _readVersion = -1;
    private long _lastStart;

    // The read in flight (Version: the changes it sees; null until it starts, when it sees all made so far), and the one queued after it.
    private (long? Version, Task<ChatCounts> Reading)? _current;
    private Task<ChatCounts>? _next;

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
        Task? after = null;
        Task<ChatCounts> reading;
        lock (_lock)
        {
            var version = Interlocked.Read(ref _version);
            if (_readVersion == version && time.GetElapsedTime(_readAt) < MaxAge)
            {
                return _counts;
            }

            var inFlight = _current is { } current && !current.Reading.IsCompleted ? current : ((long? Version, Task<ChatCounts> Reading)?)null;
            if (inFlight is { } flying && (flying.Version is null || flying.Version >= version))
            {
                reading = flying.Reading; // it has not started, or started after the last change
            }
            else if (_next is { } queued)
            {
                reading = queued; // it has not started: it sees this change
            }
            else if (inFlight is { } older)
            {
                mine = new TaskCompletionSource<ChatCounts>(TaskCreationOptions.RunContinuationsAsynchronously);
                _next = reading = mine.Task;
                after = older.Reading;
            }
            else
            {
                mine = new TaskCompletionSource<ChatCounts>(TaskCreationOptions.RunContinuationsAsynchronously);
                _current = (null, mine.Task);
                reading = mine.Task;
            }
        }

        if (mine is not null)
        {
            _ = ReadStoreAsync(mine, after);
        }

        return await reading.WaitAsync(cancellationToken);
    }

    /// <summary>One read of the store, after <paramref name="after"/> (the read in flight when it was asked for) and the spacing.</summary>
    private async Task ReadStoreAsync(TaskCompletionSource<ChatCounts> mine, Task? after)
    {
        try
        {
            if (after is not null)
            {
                await after.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default); // its failure is its callers'
                lock (_lock)
                {
                    _current = (null, mine.Task);
                    _next = null;
                }
            }

            var wait = MinSpacing - Stopwatch.GetElapsedTime(Volatile.Read(ref _lastStart));
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, CancellationToken.None);
            }

            long version;
            lock (_lock)
            {
                version = Interlocked.Read(ref _version);
                _current = (version, mine.Task);
                Volatile.Write(ref _lastStart, Stopwatch.GetTimestamp());
            }

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
}
