namespace Chat.Protocol.Limits;

/// <summary>
/// A token bucket: <paramref name="burst"/> at once, then <paramref name="perSecond"/> on average.
/// Not thread-safe: one connection's read loop uses it (its frames), or one grain's turns (an
/// account's reconnects).
/// </summary>
public sealed class TokenBucket(double perSecond, int burst, TimeProvider time)
{
    private double _tokens = burst;
    private long _refilledAt = time.GetTimestamp();

    public bool TryTake() => TryTake(out _);

    /// <summary>Takes a token; when there is none, <paramref name="retryAfter"/> says when there will be one.</summary>
    public bool TryTake(out TimeSpan retryAfter)
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_refilledAt, now).TotalSeconds * perSecond));
        _refilledAt = now;
        if (_tokens < 1)
        {
            retryAfter = TimeSpan.FromSeconds((1 - _tokens) / perSecond);
            return false;
        }

        _tokens -= 1;
        retryAfter = TimeSpan.Zero;
        return true;
    }
}
