namespace Chat.Logic.Matching;

/// <summary>Accounts waiting for a partner, longest waiting first. Not thread-safe: the matchmaker's turns use it one at a time.</summary>
internal sealed class WaitingPool : IEnumerable<ulong>
{
    private readonly LinkedList<ulong> _queue = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];

    public int Count => _nodes.Count;

    public bool Contains(ulong accountId) => _nodes.ContainsKey(accountId);

    /// <summary>Adds the account at the back; an account already waiting keeps its place.</summary>
    public bool Add(ulong accountId) => Place(accountId, front: false);

    /// <summary>Puts an account back at the front: its match failed, and it had waited longest.</summary>
    public bool AddFirst(ulong accountId) => Place(accountId, front: true);

    public bool Remove(ulong accountId)
    {
        if (!_nodes.Remove(accountId, out var node))
        {
            return false;
        }

        _queue.Remove(node);
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

    private bool Place(ulong accountId, bool front)
    {
        if (_nodes.ContainsKey(accountId))
        {
            return false;
        }

        _nodes[accountId] = front ? _queue.AddFirst(accountId) : _queue.AddLast(accountId);
        return true;
    }
}
