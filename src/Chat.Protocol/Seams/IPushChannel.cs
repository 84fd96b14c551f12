namespace Chat.Protocol.Seams;

/// <summary>
/// How logic reaches an account's socket. Calls for one receiver must be delivered in call order;
/// a call returns once the push is queued for the socket (true) or the socket is not there (false).
/// Implemented in-process by the broker's connection registry, and over gRPC per broker address.
/// </summary>
public interface IPushChannel
{
    ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken);

    ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken);

    /// <summary>Closes the socket at <paramref name="to"/>: its account was bound to another socket.</summary>
    ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken);

    /// <summary>
    /// The socket's account was taken away from it (its broker fell silent): live pushes for it handed over until now and
    /// still waiting are dropped, so that none arrives later, after a gap or behind the replay that follows a return (the
    /// session hands over nothing more for it while it is away). In one process nothing waits, so nothing is to be done.
    /// </summary>
    void Recall(ClientEndpoint to)
    {
    }
}

/// <param name="Replay">
/// A replay after a reconnect: the push waits for room in the socket's queue. A live push never
/// waits; a socket whose queue is full is too slow and is dropped (its messages wait in the store).
/// </param>
public sealed record DialoguePush(ulong SenderId, ulong SessionId, ulong ReceiverId, string Content, ulong MsgId, long SentAtUnixMs, bool Replay = false);

/// <summary>
/// A signal for one receiver. <see cref="AccountId"/>/<see cref="NickName"/> describe the partner
/// the signal is about (NewSession, PartnerExit, PartnerAway, PartnerBack, Typing);
/// <see cref="MsgId"/> is the read-up-to id of a ViewedAck.
/// </summary>
/// <param name="CommonInterests">With NewSession: the interests both members share, folded (empty: none).</param>
public sealed record SignalPush(SignalKind Kind, ulong SenderId, ulong ReceiverId, ulong SessionId, ulong AccountId = 0, string? NickName = null, ulong MsgId = 0, IReadOnlyList<string>? CommonInterests = null);

/// <summary>Numbers follow the seed's SignalTypeEnum; ours start at 100.</summary>
public enum SignalKind
{
    PartnerExit = 0,
    NewSession = 1,
    DeleteMsg = 2,
    ViewedAck = 3,
    PartnerAway = 100,
    PartnerBack = 101,
    Typing = 102,
}
