namespace Chat.Logic.Abuse;

/// <summary>
/// A token bucket kept as two numbers, for the many kept per address or account in a grain: how
/// many tokens are spent and when that was worked out, on the injected clock (Unix milliseconds).
/// The default value is a full bucket, so a new entry needs no set-up.
/// </summary>
internal struct Allowance
{
    private double _spent;
    private long _at;

    /// <summary>Whether a token is there now (nothing is taken).</summary>
    public bool CanTake(long now, double perMinute, double burst)
    {
        Refill(now, perMinute);
        return _spent + 1 <= burst;
    }

    /// <summary>Takes a token if there is one.</summary>
    public bool TryTake(long now, double perMinute, double burst)
    {
        if (!CanTake(now, perMinute, burst))
        {
            return false;
        }

        _spent += 1;
        return true;
    }

    /// <summary>Takes a token whether or not there is one, never going further than an empty bucket.</summary>
    public void Take(long now, double perMinute, double burst)
    {
        Refill(now, perMinute);
        _spent = Math.Min(burst, _spent + 1);
    }

    /// <summary>Whole seconds until a token is there (at least 1).</summary>
    public int SecondsUntilOne(long now, double perMinute, double burst)
    {
        Refill(now, perMinute);
        var missing = _spent + 1 - burst;
        return missing <= 0 ? 1 : Math.Max(1, (int)Math.Ceiling(missing * 60 / perMinute));
    }

    /// <summary>Full again: it holds nothing worth remembering.</summary>
    public bool IsFull(long now, double perMinute)
    {
        Refill(now, perMinute);
        return _spent <= 0;
    }

    private void Refill(long now, double perMinute)
    {
        if (_spent > 0 && now > _at)
        {
            _spent = Math.Max(0, _spent - ((now - _at) * perMinute / 60_000));
        }

        _at = Math.Max(_at, now);
    }
}
