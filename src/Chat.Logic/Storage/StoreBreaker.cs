namespace Chat.Logic.Storage;

/// <summary>
/// Stops a store from hammering a database it cannot reach: after a failure to reach it, calls fail
/// at once (<see cref="StoreUnavailableException"/>) for a while, 100 ms after the first failure and
/// doubling up to 1 s, then calls try again. A success closes it. While the database is away, the
/// writer and the reads each try about once a second instead of once per message, and callers hear
/// of the failure at once rather than after a connect timeout; when it is back, the store finds it
/// within a second.
/// </summary>
internal sealed class StoreBreaker(TimeProvider time)
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private long _openUntil;
    private TimeSpan _pause;

    /// <summary>Throws while the breaker is open.</summary>
    public void ThrowIfOpen()
    {
        lock (_lock)
        {
            if (_pause != TimeSpan.Zero && time.GetTimestamp() < _openUntil)
            {
                throw new StoreUnavailableException("The database could not be reached a moment ago; not trying again yet.");
            }
        }
    }

    /// <summary>The database could not be reached: open (longer than last time, up to a second).</summary>
    public void Failed()
    {
        lock (_lock)
        {
            _pause = _pause == TimeSpan.Zero ? FirstPause : TimeSpan.FromTicks(Math.Min(_pause.Ticks * 2, LongestPause.Ticks));
            _openUntil = time.GetTimestamp() + (long)(_pause.TotalSeconds * time.TimestampFrequency);
        }
    }

    /// <summary>The database answered: closed.</summary>
    public void Succeeded()
    {
        if (Volatile.Read(ref _openUntil) == 0)
        {
            return;
        }

        lock (_lock)
        {
            _pause = TimeSpan.Zero;
            _openUntil = 0;
        }
    }
}
