using Chat.Logic.Matching;
using Chat.Logic.Moderation;
using Chat.Logic.Sessions;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Limits;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Accounts;

/// <summary>
/// The account's socket binding and grace period. Not reentrant: a reconnect, a leave and a grace
/// expiry of one account happen one after the other, never interleaved. It calls its sessions and
/// the matchmaker, which never call back into an account, so no call cycle can form.
/// </summary>
internal sealed partial class AccountGrain(
    ChatGrains grains,
    IChatStore store,
    StoreWriter writer,
    IPushChannel push,
    ModerationDesk moderation,
    IOptions<LogicOptions> options,
    TimeProvider time,
    ILogger<AccountGrain> logger) : Grain, IAccountGrain
{
    private readonly LogicOptions _options = options.Value;
    private ulong _id;
    private AccountRecord? _account;

    // The sessions the last reconnect attached, for the resume that follows it.
    private IReadOnlyList<ulong> _attached = [];

    // The binding a reconnect queued without waiting for it: read the row only once it is in.
    private Task _binding = Task.CompletedTask;

    // Reconnects the account may still make now; made on its first one (most accounts never reconnect).
    // Lost with the activation, which an account with chats to come back to keeps.
    private TokenBucket? _reconnects;

    // The row was read by the activation itself, just now: the call that activated the grain need not
    // read it again. Every call that does not read it clears this, so no later call relies on that read.
    private bool _justRead;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = (ulong)this.GetPrimaryKeyLong();
        _account = await store.FindAccountAsync(_id, cancellationToken);
        _justRead = true;
    }

    public async Task<Reconnected> Reconnect(string token, ClientEndpoint endpoint)
    {
        await ReloadAsync();
        if (_account is null || !AccountTokens.Matches(token, _account.TokenHash))
        {
            if (_account is null or { Endpoint: null, AwaySinceUnixMs: null })
            {
                // An id nobody created, or an account with no socket and no chats waiting: answer, then
                // go (a wrong token must not keep an activation, and its record, in memory).
                DeactivateOnIdle();
            }

            return new Reconnected(ResultCode.NoDataFound, string.Empty, []);
        }

        // Only with the right token: nobody who merely knows the id learns that the account is banned.
        if ((await moderation.BansAsync()).Find(string.Empty, _id, time.GetUtcNow().ToUnixTimeMilliseconds()) is not null)
        {
            return new Reconnected(ResultCode.Banned, string.Empty, []);
        }

        // Counted only with the right token, so nobody who merely knows the id can lock the account out.
        _reconnects ??= new TokenBucket(1 / _options.ReconnectInterval.TotalSeconds, _options.ReconnectBurst, time);
        if (!_reconnects.TryTake(out var retryAfter))
        {
            Log.ReconnectsLimited(logger, _id, retryAfter);
            return new Reconnected(ResultCode.RateLimited, string.Empty, [], (int)Math.Ceiling(retryAfter.TotalSeconds));
        }

        var wasAway = _account.AwaySinceUnixMs is not null;

        // An away account's old socket is on a broker taken for gone: closing it there would wait on that broker.
        var replaced = _account.Endpoint is { } old && old != endpoint && !wasAway ? old : (ClientEndpoint?)null;

        // Queued, not awaited: a reconnect must not wait behind a slow commit (the client would
        // think the server gone). Whatever the client does next commits after it, in queue order.
        _binding = writer.WriteAsync(new StoreWrite.AccountBound(_id, endpoint));
        Observe(_binding, nameof(Reconnect));
        _account = _account with { Endpoint = endpoint, AwaySinceUnixMs = null };
        if (replaced is { } oldEndpoint)
        {
            // Bounded: a broker that is cut off but not yet taken for gone must not hold up the visitor's return elsewhere.
            using var bounded = new CancellationTokenSource(_options.BrokerCheckTimeout, time);
            await push.DisconnectAsync(oldEndpoint, bounded.Token);
        }

        var sessionIds = await store.FindActiveSessionsAsync(_id, CancellationToken.None);
        var attached = new List<AttachedSession>(sessionIds.Count);
        foreach (var sessionId in sessionIds)
        {
            if (await Session(sessionId).Attach(_id, endpoint) is { } session)
            {
                attached.Add(session);
            }
        }

        _attached = [.. attached.Select(s => s.SessionId)];
        Log.Reconnected(logger, _id, endpoint, wasAway, attached.Count);
        return new Reconnected(ResultCode.Success, _account.NickName, attached);
    }

    public async Task Resume(ClientEndpoint endpoint)
    {
        _justRead = false;
        if (_account?.Endpoint != endpoint)
        {
            return;
        }

        var attached = _attached;
        _attached = [];
        foreach (var sessionId in attached)
        {
            await Session(sessionId).Resume(_id, endpoint);
        }
    }

    public async Task Logout(ClientEndpoint endpoint, LeaveKind how)
    {
        await ReloadAsync();
        if (_account?.Endpoint != endpoint)
        {
            return; // a socket that was replaced by RECONNECT: the account lives on elsewhere
        }

        await grains.MatchmakerOf(_id).Leave(_id);
        var sessionIds = await store.FindActiveSessionsAsync(_id, CancellationToken.None);
        var away = how == LeaveKind.Lost && _options.GracePeriod > TimeSpan.Zero && sessionIds.Count > 0;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        long? awaySince = away ? now : null;
        try
        {
            await writer.WriteAsync(new StoreWrite.AccountUnbound(_id, awaySince, now));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(Logout), ex); // the next start finds it bound to a broker that is gone, and makes it away
        }

        _account = _account with { Endpoint = null, AwaySinceUnixMs = awaySince };
        _attached = [];
        Log.LoggedOut(logger, _id, endpoint, how);
        foreach (var sessionId in sessionIds)
        {
            if (away)
            {
                await Session(sessionId).Away(_id, endpoint);
            }
            else
            {
                await Session(sessionId).End(_id, viaBroker: null);
            }
        }

        if (!away)
        {
            DeactivateOnIdle(); // nothing left to hold: a reconnect reads it again
        }
    }

    public async Task BrokerSilent(string broker, long atUnixMs)
    {
        await ReloadAsync();
        if (_account is not { Endpoint: { } endpoint } || endpoint.Broker != broker)
        {
            return; // resumed elsewhere meanwhile
        }

        await grains.MatchmakerOf(_id).Leave(_id);
        var sessionIds = await store.FindActiveSessionsAsync(_id, CancellationToken.None);
        if (sessionIds.Count == 0 || _options.GracePeriod <= TimeSpan.Zero)
        {
            return; // nothing to be away from: the binding stays for the broker's return
        }

        await writer.WriteAsync(new StoreWrite.AccountAway(_id, atUnixMs));
        _account = _account with { AwaySinceUnixMs = _account.AwaySinceUnixMs ?? atUnixMs };
        _attached = [];
        foreach (var sessionId in sessionIds)
        {
            await Session(sessionId).Away(_id, endpoint);
        }
    }

    public async Task Reclaim(string broker, long incarnation)
    {
        await ReloadAsync();
        if (_account is not { Endpoint: { } endpoint, AwaySinceUnixMs: not null } || endpoint.Broker != broker || endpoint.Incarnation != incarnation)
        {
            return; // not away, resumed elsewhere, or bound to an earlier start of the broker (whose sockets died with it)
        }

        await writer.WriteAsync(new StoreWrite.AccountBound(_id, endpoint));
        _account = _account with { AwaySinceUnixMs = null };
        foreach (var sessionId in await store.FindActiveSessionsAsync(_id, CancellationToken.None))
        {
            if (await Session(sessionId).Attach(_id, endpoint) is not null)
            {
                await Session(sessionId).Resume(_id, endpoint);
            }
        }

        Log.Reclaimed(logger, _id, endpoint);
    }

    public async Task ExpireGrace()
    {
        await ReloadAsync();
        if (_account is not { AwaySinceUnixMs: { } since })
        {
            return; // back, or never away
        }

        var awayFor = time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(since);
        if (awayFor < _options.GracePeriod)
        {
            return;
        }

        var sessionIds = await store.FindActiveSessionsAsync(_id, CancellationToken.None);
        Log.GraceExpired(logger, _id, sessionIds.Count);
        foreach (var sessionId in sessionIds)
        {
            await Session(sessionId).End(_id, viaBroker: null);
        }

        try
        {
            // A socket on a broker taken for gone keeps its binding: if the broker comes back with it, the account goes on.
            await writer.WriteAsync(_account.Endpoint is { } kept
                ? new StoreWrite.AccountBound(_id, kept)
                : new StoreWrite.AccountUnbound(_id, null, time.GetUtcNow().ToUnixTimeMilliseconds()));
            _account = _account with { AwaySinceUnixMs = null };
            DeactivateOnIdle();
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(ExpireGrace), ex); // still away in the store: the next sweep tries again
        }
    }

    public Task<bool> IsBoundTo(string broker)
    {
        _justRead = false;
        return Task.FromResult(_account?.Endpoint?.Broker == broker);
    }

    /// <summary>
    /// Reads the row again: the housekeeper may have dropped the account's socket in the store when
    /// its broker was declared gone, without this grain.
    /// </summary>
    private async Task ReloadAsync()
    {
        if (_justRead)
        {
            _justRead = false; // one read per activated call, not two (a stranger's reconnect to an id nobody created costs one)
            return;
        }

        try
        {
            await _binding;
        }
        catch
        {
            // Logged where it was queued; the row says what the store has.
        }

        _account = await store.FindAccountAsync(_id, CancellationToken.None) ?? _account;
    }

    private void Observe(Task write, string operation)
    {
        if (!write.IsCompletedSuccessfully)
        {
            _ = ObserveAsync(write, operation);
        }
    }

    private async Task ObserveAsync(Task write, string operation)
    {
        try
        {
            await write;
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, operation, ex);
        }
    }

    private ISessionGrain Session(ulong sessionId) => grains.Session(sessionId);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Account {AccountId}: a store operation in {Operation} failed.")]
        public static partial void StoreFailed(ILogger logger, ulong accountId, string operation, Exception exception);

        [LoggerMessage(2, LogLevel.Debug, "Account {AccountId} bound to {Endpoint} (was away: {WasAway}, {Sessions} sessions).")]
        public static partial void Reconnected(ILogger logger, ulong accountId, ClientEndpoint endpoint, bool wasAway, int sessions);

        [LoggerMessage(3, LogLevel.Debug, "Account {AccountId} left {Endpoint} ({How}).")]
        public static partial void LoggedOut(ILogger logger, ulong accountId, ClientEndpoint endpoint, LeaveKind how);

        [LoggerMessage(4, LogLevel.Debug, "Grace period of account {AccountId} ran out; {Sessions} sessions end.")]
        public static partial void GraceExpired(ILogger logger, ulong accountId, int sessions);

        [LoggerMessage(6, LogLevel.Debug, "Account {AccountId} reclaimed on {Endpoint}: its broker answers again.")]
        public static partial void Reclaimed(ILogger logger, ulong accountId, ClientEndpoint endpoint);

        [LoggerMessage(5, LogLevel.Information, "Account {AccountId} reconnects too often; refused for {RetryAfter}.")]
        public static partial void ReconnectsLimited(ILogger logger, ulong accountId, TimeSpan retryAfter);
    }
}
