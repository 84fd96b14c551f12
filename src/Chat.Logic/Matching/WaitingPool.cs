namespace Chat.Logic.Matching;

/// <summary>
/// Accounts waiting for a partner, longest waiting first, and how many wait from each address (for
/// the limit per address; an account added without one, as those read back from the store after the
/// matchmaker moved, is counted under none). Not thread-safe: the matchmaker's turns use it one at a time.
/// </summary>
internal sealed class WaitingPool : IEnumerable<ulong>
{
    private readonly LinkedList<ulong> _queue = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];
    private readonly Dictionary<ulong, string> _addresses = [];
    private readonly Dictionary<string, int> _fromAddress = new(StringComparer.Ordinal);

    public int Count => _nodes.Count;

    public bool Contains(ulong accountId) => _nodes.ContainsKey(accountId);

    /// <summary>Accounts waiting from <paramref name="address"/>.</summary>
    public int WaitingFrom(string address) => _fromAddress.GetValueOrDefault(address);

    /// <summary>Adds the account at the back; an account already waiting keeps its place.</summary>
    public bool Add(ulong accountId, string? address = null) => Place(accountId, address, front: false);

    /// <summary>Puts an account back at the front: its match failed, and it had waited longest.</summary>
    public bool AddFirst(ulong accountId, string? address = null) => Place(accountId, address, front: true);

    /// <summary>The address the account waits from, if it was given one.</summary>
    public string? AddressOf(ulong accountId) => _addresses.GetValueOrDefault(accountId);

    public bool Remove(ulong accountId)
    {
        if (!_nodes.Remove(accountId, out var node))
        {
            return false;
        }

        _queue.Remove(node);
        if (_addresses.Remove(accountId, out var address))
        {
            if (--_fromAddress[address] == 0)
            {
                _fromAddress.Remove(address);
            }
        }

        return true;
    }

    /// <summary>The longest-waiting account that <paramref name="eligible"/> accepts, if any.</summary>
    public ulong? FindOldest(Func<ulong, bool> eligible)
    {
        for (var node = _queue.First; node is not null; node = node.Next)
        {
            if (eligible(node.Value))
            {
                return node.Value;
            }
        }

        return null;
    }

    /// <summary>The waiting accounts, longest waiting first.</summary>
    public IEnumerator<ulong> GetEnumerator() => _queue.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private bool Place(ulong accountId, string? address, bool front)
    {
        if (_nodes.ContainsKey(accountId))
        {
            return false;
        }

        _nodes[accountId] = front ? _queue.AddFirst(accountId) : _queue.AddLast(accountId);
        if (address is not null)
        {
            _addresses[accountId] = address;
            _fromAddress[address] = _fromAddress.GetValueOrDefault(address) + 1;
        }

        return true;
    }
}
