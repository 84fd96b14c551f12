using Chat.Logic.Matching;
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

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = (ulong)this.GetPrimaryKeyLong();
        _account = await store.FindAccountAsync(_id, cancellationToken);
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

        // Counted only with the right token, so nobody who merely knows the id can lock the account out.
        _reconnects ??= new TokenBucket(1 / _options.ReconnectInterval.TotalSeconds, _options.ReconnectBurst, time);
        if (!_reconnects.TryTake(out var retryAfter))
        {
            Log.ReconnectsLimited(logger, _id, retryAfter);
            return new Reconnected(ResultCode.RateLimited, string.Empty, [], (int)Math.Ceiling(retryAfter.TotalSeconds));
        }

        var replaced = _account.Endpoint is { } old && old != endpoint ? old : (ClientEndpoint?)null;
        var wasAway = _account.AwaySinceUnixMs is not null;

        // Queued, not awaited: a reconnect must not wait behind a slow commit (the client would
        // think the server gone). Whatever the client does next commits after it, in queue order.
        _binding = writer.WriteAsync(new StoreWrite.AccountBound(_id, endpoint));
        Observe(_binding, nameof(Reconnect));
        _account = _account with { Endpoint = endpoint, AwaySinceUnixMs = null };
        if (replaced is { } oldEndpoint)
        {
            await push.DisconnectAsync(oldEndpoint, CancellationToken.None);
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

    public async Task ExpireGrace()
    {
        await ReloadAsync();
        if (_account is not { Endpoint: null, AwaySinceUnixMs: { } since })
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
            await writer.WriteAsync(new StoreWrite.AccountUnbound(_id, null, time.GetUtcNow().ToUnixTimeMilliseconds()));
            _account = _account with { AwaySinceUnixMs = null };
            DeactivateOnIdle();
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(ExpireGrace), ex); // still away in the store: the next sweep tries again
        }
    }

    public Task<bool> IsBoundTo(string broker) => Task.FromResult(_account?.Endpoint?.Broker == broker);

    /// <summary>
    /// Reads the row again: the housekeeper may have dropped the account's socket in the store when
    /// its broker was declared gone, without this grain.
    /// </summary>
    private async Task ReloadAsync()
    {
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

        [LoggerMessage(5, LogLevel.Information, "Account {AccountId} reconnects too often; refused for {RetryAfter}.")]
        public static partial void ReconnectsLimited(ILogger logger, ulong accountId, TimeSpan retryAfter);
    }
}
