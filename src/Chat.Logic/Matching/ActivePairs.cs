using Chat.Logic.Storage;

namespace Chat.Logic.Matching;

/// <summary>
/// The pairs that are talking, and how many sessions each account is in (the cap on an account's
/// sessions is checked against it). Not thread-safe: the matchmaker's turns use it one at a time.
/// </summary>
internal sealed class ActivePairs
{
    private readonly HashSet<ActivePair> _pairs = [];
    private readonly Dictionary<ulong, int> _sessionsOf = [];

    public int Count => _pairs.Count;

    /// <summary>Every pair (no order).</summary>
    public IReadOnlyCollection<ActivePair> All => _pairs;

    public bool Contains(ActivePair pair) => _pairs.Contains(pair);

    /// <summary>Active sessions the account is in.</summary>
    public int SessionsOf(ulong accountId) => _sessionsOf.GetValueOrDefault(accountId);

    public bool Add(ActivePair pair)
    {
        if (!_pairs.Add(pair))
        {
            return false;
        }

        Tally(pair.First, +1);
        Tally(pair.Second, +1);
        return true;
    }

    public bool Remove(ActivePair pair)
    {
        if (!_pairs.Remove(pair))
        {
            return false;
        }

        Tally(pair.First, -1);
        Tally(pair.Second, -1);
        return true;
    }

    private void Tally(ulong accountId, int change)
    {
        var sessions = _sessionsOf.GetValueOrDefault(accountId) + change;
        if (sessions > 0)
        {
            _sessionsOf[accountId] = sessions;
        }
        else
        {
            _sessionsOf.Remove(accountId);
        }
    }
}
