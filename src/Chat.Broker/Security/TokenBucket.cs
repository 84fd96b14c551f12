namespace Chat.Broker.Security;

/// <summary>A token bucket for one connection. Used only from that connection's read loop.</summary>
internal sealed class TokenBucket(double perSecond, int burst, TimeProvider time)
{
    private double _tokens = burst;
    private long _refilledAt = time.GetTimestamp();

    public bool TryTake()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_refilledAt, now).TotalSeconds * perSecond));
        _refilledAt = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
