using Chat.Protocol.Seams;

namespace Chat.Logic.Accounts;

/// <summary>
/// An account logic holds in memory: one that is online, or away within its grace period, or a
/// partner in a session that is still active. Binding fields change under the logic's gate and
/// this object's lock; delivery fields under this object's lock only.
/// </summary>
public sealed class LiveAccount(ulong id, string nickName, byte[] tokenHash)
{
    public ulong Id { get; } = id;

    public string NickName { get; } = nickName;

    public byte[] TokenHash { get; } = tokenHash;

    /// <summary>Where the account's socket is; null while it has none.</summary>
    public ClientEndpoint? Endpoint { get; set; }

    /// <summary>Set when the socket was lost; the sessions end when the grace period runs out.</summary>
    public long? AwaySinceTimestamp { get; set; }

    /// <summary>Active sessions the account is in (guarded by the gate).</summary>
    public HashSet<ulong> Sessions { get; } = [];

    /// <summary>While a resume replays missed messages, live pushes wait (they are replayed too).</summary>
    public bool Resuming { get; set; }

    /// <summary>A live message was held back during a resume: the replay must read again.</summary>
    public bool MissedWhileResuming { get; set; }

    // Created on first use: most accounts online at any moment are idle or waiting.
    private Dictionary<ulong, DeliveryMarks>? _deliveries;

    /// <summary>Per session: how far messages to this account were pushed and delivered.</summary>
    public IReadOnlyDictionary<ulong, DeliveryMarks> Deliveries => _deliveries ?? (IReadOnlyDictionary<ulong, DeliveryMarks>)EmptyMarks;

    private RecentRequests? _requests;

    /// <summary>Recent DIALOGUE_REQ requestIds and the message each stored (or is storing), for idempotent retries.</summary>
    /// <remarks>Created on the first send: an account that never writes (most idle ones) costs nothing here.</remarks>
    public RecentRequests Requests => _requests ?? Interlocked.CompareExchange(ref _requests, new RecentRequests(), null) ?? _requests;

    private static readonly Dictionary<ulong, DeliveryMarks> EmptyMarks = [];

    public DeliveryMarks MarksFor(ulong sessionId)
    {
        _deliveries ??= [];
        if (!_deliveries.TryGetValue(sessionId, out var marks))
        {
            marks = new DeliveryMarks();
            _deliveries[sessionId] = marks;
        }

        return marks;
    }

    public void ForgetMarks(ulong sessionId) => _deliveries?.Remove(sessionId);
}

public sealed class DeliveryMarks
{
    /// <summary>Highest msgId pushed to the current socket.</summary>
    public ulong PushedUpTo { get; set; }

    /// <summary>Highest msgId known to have reached the client.</summary>
    public ulong DeliveredUpTo { get; set; }

    /// <summary><see cref="DeliveredUpTo"/> moved and is not yet in the store.</summary>
    public bool Dirty { get; set; }
}
