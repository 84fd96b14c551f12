using Chat.Logic.Accounts;

namespace Chat.Logic.Sessions;

/// <summary>
/// An active session between two accounts. Message ids are handed out and queued for the store
/// under this object's lock, so the store and the receiver see them in order.
/// </summary>
public sealed class LiveSession(ulong id, LiveAccount first, LiveAccount second, ulong lastMsgId)
{
    public ulong Id { get; } = id;

    public LiveAccount First { get; } = first;

    public LiveAccount Second { get; } = second;

    public bool Ended { get; set; }

    /// <summary>The highest message id handed out in this session.</summary>
    public ulong LastMsgId { get; set; } = lastMsgId;

    /// <summary>Per sender: when the last typing signal was relayed (TimeProvider timestamp).</summary>
    public long FirstTypingAt { get; set; }

    public long SecondTypingAt { get; set; }

    public bool Has(ulong accountId) => accountId == First.Id || accountId == Second.Id;

    public LiveAccount PartnerOf(ulong accountId) => accountId == First.Id ? Second : First;

    public bool IsFirst(ulong accountId) => accountId == First.Id;
}
