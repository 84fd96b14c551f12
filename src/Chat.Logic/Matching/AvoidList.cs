namespace Chat.Logic.Matching;

/// <summary>
/// Pairs that must not be matched until a moment: two accounts (their chat just ended, or one
/// reported the other) and two addresses. Each entry expires, and expired ones are dropped on
/// <see cref="Sweep"/>, so the list holds only what is still in force. Not thread-safe: a shard's turns use it one at a time.
/// </summary>
internal sealed class AvoidList
{
    private readonly Dictionary<(ulong, ulong), long> _accounts = [];
    private readonly Dictionary<(string, string), long> _addresses = [];

    public int Count => _accounts.Count + _addresses.Count;

    public void AvoidAccounts(ulong a, ulong b, long untilUnixMs)
    {
        var key = a < b ? (a, b) : (b, a);
        _accounts[key] = Math.Max(untilUnixMs, _accounts.GetValueOrDefault(key));
    }

    public void AvoidAddresses(string a, string b, long untilUnixMs)
    {
        var key = string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);
        _addresses[key] = Math.Max(untilUnixMs, _addresses.GetValueOrDefault(key));
    }

    /// <summary>Whether the two visitors must not be paired now.</summary>
    public bool Forbids(WaitingVisitor a, WaitingVisitor b, long nowUnixMs)
    {
        if (_accounts.Count > 0 && _accounts.TryGetValue(a.AccountId < b.AccountId ? (a.AccountId, b.AccountId) : (b.AccountId, a.AccountId), out var until) && until > nowUnixMs)
        {
            return true;
        }

        return _addresses.Count > 0 && a.Address is { } x && b.Address is { } y
            && _addresses.TryGetValue(string.CompareOrdinal(x, y) < 0 ? (x, y) : (y, x), out var addressesUntil) && addressesUntil > nowUnixMs;
    }

    /// <summary>Drops the entries no longer in force.</summary>
    public void Sweep(long nowUnixMs)
    {
        foreach (var (key, until) in _accounts)
        {
            if (until <= nowUnixMs)
            {
                _accounts.Remove(key);
            }
        }

        foreach (var (key, until) in _addresses)
        {
            if (until <= nowUnixMs)
            {
                _addresses.Remove(key);
            }
        }
    }
}
