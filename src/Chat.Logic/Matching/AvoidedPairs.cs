namespace Chat.Logic.Matching;

/// <summary>
/// Pairs of accounts and of addresses that must not be matched with each other until a time: bounded
/// (past <see cref="Most"/> pairs of a kind the one that ends first goes) and expiring (a pair past its
/// time is forgotten when it is next looked at, or swept).
/// </summary>
internal sealed class AvoidedPairs
{
    public const int Most = 100_000;

    private readonly Dictionary<(ulong, ulong), long> _accounts = [];
    private readonly Dictionary<(string, string), long> _addresses = [];

    public int Count => _accounts.Count + _addresses.Count;

    public void Add(ulong a, ulong b, string? addressA, string? addressB, long accountsUntil, long addressesUntil, long now)
    {
        Keep(_accounts, a < b ? (a, b) : (b, a), accountsUntil, now);
        if (addressA is not null && addressB is not null && addressA != addressB)
        {
            Keep(_addresses, string.CompareOrdinal(addressA, addressB) < 0 ? (addressA, addressB) : (addressB, addressA), addressesUntil, now);
        }
    }

    /// <summary>Whether the two may not be matched now.</summary>
    public bool Avoids(ulong a, string? addressA, ulong b, string? addressB, long now)
    {
        if (Count == 0)
        {
            return false;
        }

        if (_accounts.TryGetValue(a < b ? (a, b) : (b, a), out var until) && until > now)
        {
            return true;
        }

        return addressA is not null && addressB is not null
            && _addresses.TryGetValue(string.CompareOrdinal(addressA, addressB) < 0 ? (addressA, addressB) : (addressB, addressA), out until) && until > now;
    }

    private static void Keep<TKey>(Dictionary<TKey, long> pairs, TKey key, long until, long now) where TKey : notnull
    {
        if (pairs.Count >= Most && !pairs.ContainsKey(key))
        {
            foreach (var (old, ends) in pairs)
            {
                if (ends <= now)
                {
                    pairs.Remove(old);
                }
            }

            if (pairs.Count >= Most)
            {
                pairs.Remove(pairs.MinBy(p => p.Value).Key);
            }
        }

        pairs[key] = Math.Max(until, pairs.GetValueOrDefault(key));
    }
}
