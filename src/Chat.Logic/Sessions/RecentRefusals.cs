namespace Chat.Logic.Sessions;

/// <summary>
/// One member's last <see cref="Capacity"/> messages the filter refused in one session, by requestId,
/// so a retry (a client that lost the answer sends the same DIALOGUE_REQ again) gets the same answer
/// without being filtered again: each message is judged once (a classifier webhook is asked once).
/// Not kept in the store: after a reactivation a retried refusal is filtered anew, which can only
/// let through what is now allowed. Not thread-safe: the session grain's turns use it one at a time.
/// </summary>
internal sealed class RecentRefusals
{
    public const int Capacity = 16;

    private readonly ulong[] _keys = new ulong[Capacity];
    private readonly string?[] _messages = new string?[Capacity];
    private int _next;

    public bool TryGet(string requestId, out string? message)
    {
        var slot = Array.IndexOf(_keys, RecentRequests.KeyOf(requestId));
        message = slot < 0 ? null : _messages[slot];
        return slot >= 0;
    }

    public void Add(string requestId, string? message)
    {
        _keys[_next] = RecentRequests.KeyOf(requestId);
        _messages[_next] = message;
        _next = (_next + 1) % Capacity;
    }
}
