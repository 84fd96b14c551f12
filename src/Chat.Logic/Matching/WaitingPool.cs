namespace Chat.Logic.Matching;

/// <summary>
/// Accounts waiting for a partner, oldest first. Not thread-safe: the logic's gate guards it.
/// </summary>
public sealed class WaitingPool
{
    private readonly LinkedList<ulong> _queue = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];

    public int Count => _nodes.Count;

    public bool Contains(ulong accountId) => _nodes.ContainsKey(accountId);

    /// <summary>Adds the account at the back; an account already waiting keeps its place.</summary>
    public void Add(ulong accountId)
    {
        if (!_nodes.ContainsKey(accountId))
        {
            _nodes[accountId] = _queue.AddLast(accountId);
        }
    }

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
}
