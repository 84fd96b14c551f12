using Chat.Logic.Sessions;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Logic.Accounts;

/// <summary>
/// One account (key: its id): where its socket is and whether it is away, which decides what its
/// sessions hear when the socket comes and goes. Rebuilt from the store on activation; its
/// sessions are read from the store when it needs them (on reconnects and leaves, not per message).
/// </summary>
internal interface IAccountGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Binds the account to a new socket (the token must match); the old socket, if any, is closed.
    /// An account that reconnects more often than its allowance is refused (RateLimited) for a while.
    /// </summary>
    Task<Reconnected> Reconnect(string token, ClientEndpoint endpoint);

    /// <summary>After RECONNECT_RESP: every session replays what the new socket missed.</summary>
    Task Resume(ClientEndpoint endpoint);

    /// <summary>The socket is gone: on purpose (sessions end) or lost (the grace period starts).</summary>
    Task Logout(ClientEndpoint endpoint, LeaveKind how);

    /// <summary>Ends the account's sessions if it has been away for the whole grace period.</summary>
    Task ExpireGrace();

    /// <summary>
    /// Its socket's broker has not answered for a while (logic cannot tell dead from cut off): if it is still bound
    /// there, it leaves the waiting pool and, in sessions, is away from <paramref name="atUnixMs"/> (its partners are
    /// told; the grace period runs), keeping the binding for <see cref="Reclaim"/>.
    /// </summary>
    Task BrokerSilent(string broker, long atUnixMs);

    /// <summary>
    /// The broker answers again as the same start (<paramref name="incarnation"/>): an account still bound to that
    /// start's socket and away is back on it, its sessions replaying what it missed; its partners hear it is back.
    /// </summary>
    Task Reclaim(string broker, long incarnation);

    /// <summary>Whether the account's socket is on <paramref name="broker"/> (a broker may ask for its own visitors only).</summary>
    Task<bool> IsBoundTo(string broker);
}

[GenerateSerializer, Immutable]
internal sealed record Reconnected(
    [property: Id(0)] ResultCode Code,
    [property: Id(1)] string NickName,
    [property: Id(2)] IReadOnlyList<AttachedSession> Sessions,
    [property: Id(3)] int RetryAfterSeconds = 0);
