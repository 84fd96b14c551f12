using Chat.Logic.Accounts;
using Chat.Logic.Diagnostics;
using Chat.Logic.Matching;
using Chat.Logic.Sessions;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic;

/// <summary>
/// The rules of the chat: accounts, matching, sessions, messages, read receipts, reconnect and
/// leaving. Durable state is in the store; this class holds what is live (bindings, the waiting
/// pool, active sessions) and is the only writer of it.
/// </summary>
/// <remarks>
/// Locks: <see cref="_gate"/> guards bindings, the pool and session membership; a
/// <see cref="LiveSession"/>'s lock orders its messages; a <see cref="LiveAccount"/>'s lock guards
/// its deliveries. Take them in that order, and never hold one across an await.
/// </remarks>
public sealed partial class ChatLogic(
    IChatStore store,
    StoreWriter writer,
    IPushChannel push,
    IOptions<LogicOptions> options,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<ChatLogic> logger) : ILogic
{
    private readonly LogicOptions _options = options.Value;
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, LiveAccount> _accounts = [];
    private readonly Dictionary<ulong, LiveSession> _sessions = [];
    private readonly HashSet<ulong> _away = [];
    private readonly WaitingPool _pool = new();
    private int _online;
    private ulong _lastAccountId;
    private ulong _lastSessionId;
    private ulong _lastMsgId;

    /// <summary>Loads id high-water marks and the active sessions, whose accounts start as away (their sockets died with the last process).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var high = await store.ReadHighWaterAsync(cancellationToken);
        var active = await store.LoadActiveAsync(cancellationToken);
        var now = time.GetTimestamp();
        lock (_gate)
        {
            _lastAccountId = high.AccountId;
            _lastSessionId = high.SessionId;
            _lastMsgId = high.MessageId;
            foreach (var account in active.Accounts)
            {
                _accounts[account.Id] = new LiveAccount(account.Id, account.NickName, account.TokenHash) { AwaySinceTimestamp = now };
                _away.Add(account.Id);
            }

            foreach (var state in active.Sessions)
            {
                var s = state.Session;
                if (!_accounts.TryGetValue(s.FirstAccountId, out var first) || !_accounts.TryGetValue(s.SecondAccountId, out var second))
                {
                    continue;
                }

                _sessions[s.Id] = new LiveSession(s.Id, first, second, state.LastMsgId);
                first.MarksFor(s.Id).DeliveredUpTo = state.FirstDeliveredUpTo;
                second.MarksFor(s.Id).DeliveredUpTo = state.SecondDeliveredUpTo;
                first.Sessions.Add(s.Id);
                second.Sessions.Add(s.Id);
                foreach (var sent in state.RecentRequests)
                {
                    var sender = sent.SenderId == first.Id ? first : second;
                    sender.Requests.Add(sent.RequestId, new PendingSend(s.Id, sent.MsgId, Task.CompletedTask));
                }
            }
        }

        metrics.Observe(
            online: () => { lock (_gate) { return _online; } },
            waiting: () => { lock (_gate) { return _pool.Count; } },
            sessions: () => { lock (_gate) { return _sessions.Count; } });
        Log.Started(logger, active.Sessions.Count, active.Accounts.Count);
    }

    public async ValueTask<CreateAccountResult> CreateAccountAsync(string nickName, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        if (!NickNames.TryNormalize(nickName, _options.MaxNickNameLength, out var name))
        {
            return new CreateAccountResult(ResultCode.ParamErr, 0, nickName, string.Empty, $"nickName must be 1-{_options.MaxNickNameLength} characters");
        }

        var (token, hash) = AccountTokens.Create();
        var id = Interlocked.Increment(ref _lastAccountId);
        try
        {
            await writer.WriteAsync(new StoreWrite.NewAccount(new AccountRecord(id, name, hash, time.GetUtcNow().ToUnixTimeMilliseconds())));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, nameof(CreateAccountAsync), ex);
            return new CreateAccountResult(ResultCode.InternalErr, 0, name, string.Empty, "store unavailable");
        }

        lock (_gate)
        {
            var account = new LiveAccount(id, name, hash) { Endpoint = endpoint };
            _accounts[id] = account;
            _online++;
        }

        Log.AccountCreated(logger, id, endpoint);
        return new CreateAccountResult(ResultCode.Success, id, name, token);
    }

    public async ValueTask<ReconnectResult> ReconnectAsync(ulong accountId, string token, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        var none = new ReconnectResult(ResultCode.NoDataFound, accountId, string.Empty, []);
        LiveAccount? account;
        lock (_gate)
        {
            _accounts.TryGetValue(accountId, out account);
        }

        if (account is null)
        {
            var record = await store.FindAccountAsync(accountId, cancellationToken);
            if (record is null || !AccountTokens.Matches(token, record.TokenHash))
            {
                return none;
            }

            lock (_gate)
            {
                // Another request may have loaded it meanwhile: keep the one already live.
                if (!_accounts.TryGetValue(accountId, out account))
                {
                    account = new LiveAccount(record.Id, record.NickName, record.TokenHash);
                    _accounts[accountId] = account;
                }
            }
        }
        else if (!AccountTokens.Matches(token, account.TokenHash))
        {
            return none;
        }

        ClientEndpoint? replaced;
        bool wasAway;
        var partners = new List<(ulong SessionId, LiveAccount Partner)>();
        var summaries = new List<SessionSummary>();
        lock (_gate)
        {
            if (!_accounts.ContainsKey(accountId))
            {
                // The grace period ran out between the lookup and here: the account was dropped from memory.
                _accounts[accountId] = account;
            }

            lock (account)
            {
                replaced = account.Endpoint is { } old && old != endpoint ? old : null;
                if (account.Endpoint is null)
                {
                    _online++;
                }

                account.Endpoint = endpoint;
                wasAway = account.AwaySinceTimestamp is not null;
                account.AwaySinceTimestamp = null;
                account.Resuming = true;
                account.MissedWhileResuming = false;
                foreach (var marks in account.Deliveries.Values)
                {
                    marks.PushedUpTo = marks.DeliveredUpTo; // a new socket has seen nothing yet
                }
            }

            _away.Remove(accountId);
            foreach (var sessionId in account.Sessions)
            {
                if (_sessions.TryGetValue(sessionId, out var session))
                {
                    var partner = session.PartnerOf(accountId);
                    partners.Add((sessionId, partner));
                    summaries.Add(new SessionSummary(sessionId, partner.Id, partner.NickName, partner.Endpoint is not null));
                }
            }
        }

        if (replaced is { } oldEndpoint)
        {
            await push.DisconnectAsync(oldEndpoint, cancellationToken);
        }

        if (wasAway)
        {
            foreach (var (sessionId, partner) in partners)
            {
                await SignalAsync(partner, new SignalPush(SignalKind.PartnerBack, 0, partner.Id, sessionId, accountId, account.NickName), cancellationToken);
            }
        }

        Log.Reconnected(logger, accountId, endpoint, wasAway, summaries.Count);
        return new ReconnectResult(ResultCode.Success, accountId, account.NickName, summaries);
    }

    public async ValueTask LogoutAsync(ulong accountId, ClientEndpoint endpoint, LeaveKind how, CancellationToken cancellationToken)
    {
        List<LiveSession> ending = [];
        List<(ulong SessionId, LiveAccount Partner)> away = [];
        lock (_gate)
        {
            if (!_accounts.TryGetValue(accountId, out var account) || account.Endpoint != endpoint)
            {
                return; // A socket that was replaced by RECONNECT: the account lives on elsewhere.
            }

            _pool.Remove(accountId);
            lock (account)
            {
                account.Endpoint = null;
                account.Resuming = false;
            }

            _online--;
            if (how == LeaveKind.Lost && _options.GracePeriod > TimeSpan.Zero && account.Sessions.Count > 0)
            {
                account.AwaySinceTimestamp = time.GetTimestamp();
                _away.Add(accountId);
                foreach (var sessionId in account.Sessions)
                {
                    if (_sessions.TryGetValue(sessionId, out var session))
                    {
                        away.Add((sessionId, session.PartnerOf(accountId)));
                    }
                }
            }
            else
            {
                ending = EndAllSessionsLocked(account);
                ForgetIfIdleLocked(account);
            }
        }

        Log.LoggedOut(logger, accountId, endpoint, how);
        foreach (var (sessionId, partner) in away)
        {
            await SignalAsync(partner, new SignalPush(SignalKind.PartnerAway, 0, partner.Id, sessionId, accountId), cancellationToken);
        }

        await FinishEndingAsync(accountId, ending, cancellationToken);
    }

    public async ValueTask<MatchResult> MatchAsync(ulong accountId, CancellationToken cancellationToken)
    {
        LiveAccount caller;
        LiveAccount partner;
        LiveSession session;
        lock (_gate)
        {
            if (!_accounts.TryGetValue(accountId, out caller!) || caller.Endpoint is null)
            {
                return new MatchResult(ResultCode.ParamErr, Message: "no account on this socket");
            }

            var found = _pool.FindOldest(candidate => candidate != accountId && !ShareActiveSessionLocked(caller, candidate));
            if (found is not { } partnerId)
            {
                _pool.Add(accountId);
                return new MatchResult(ResultCode.NoDataFound, Message: "waiting for a partner");
            }

            partner = _accounts[partnerId];
            _pool.Remove(partnerId);
            _pool.Remove(accountId);
            var sessionId = ++_lastSessionId;
            session = new LiveSession(sessionId, partner, caller, 0);
            _sessions[sessionId] = session;
            caller.Sessions.Add(sessionId);
            partner.Sessions.Add(sessionId);
        }

        try
        {
            await writer.WriteAsync(new StoreWrite.NewSession(new SessionRecord(
                session.Id, session.First.Id, session.Second.Id, time.GetUtcNow().ToUnixTimeMilliseconds())));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, nameof(MatchAsync), ex);
            lock (_gate)
            {
                session.Ended = true;
                _sessions.Remove(session.Id);
                caller.Sessions.Remove(session.Id);
                partner.Sessions.Remove(session.Id);
            }

            return new MatchResult(ResultCode.InternalErr, Message: "store unavailable");
        }

        metrics.SessionStarted();
        Log.Matched(logger, session.Id, partner.Id, accountId);
        await SignalAsync(partner, new SignalPush(SignalKind.NewSession, accountId, partner.Id, session.Id, accountId, caller.NickName), cancellationToken);
        return new MatchResult(ResultCode.Success, partner.Id, partner.NickName, session.Id);
    }

    public async ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(requestId) || requestId.Length > _options.MaxRequestIdLength)
        {
            return new SendResult(ResultCode.ParamErr, Message: $"requestId must be 1-{_options.MaxRequestIdLength} characters");
        }

        if (string.IsNullOrWhiteSpace(content) || content.Length > _options.MaxContentLength * 2 || CountCharacters(content) > _options.MaxContentLength)
        {
            return new SendResult(ResultCode.ParamErr, Message: $"content must be 1-{_options.MaxContentLength} characters");
        }

        LiveAccount? sender;
        LiveSession? session;
        lock (_gate)
        {
            _accounts.TryGetValue(senderId, out sender);
            _sessions.TryGetValue(sessionId, out session);
        }

        if (sender is null)
        {
            return new SendResult(ResultCode.ParamErr, Message: "no account on this socket");
        }

        if (session is null || !session.Has(senderId))
        {
            return await RefuseSendAsync(sender, sessionId, cancellationToken);
        }

        PendingSend pending;
        var ended = false;
        lock (session)
        {
            // A retry is answered with the first attempt's message.
            if (!sender.Requests.TryGet(sessionId, requestId, out pending))
            {
                ended = session.Ended;
                if (!ended)
                {
                    var message = new MessageRecord(Interlocked.Increment(ref _lastMsgId), sessionId, senderId, requestId, content, time.GetUtcNow().ToUnixTimeMilliseconds());
                    session.LastMsgId = message.Id;
                    var receiver = session.PartnerOf(senderId);
                    pending = new PendingSend(sessionId, message.Id, writer.WriteAsync(new StoreWrite.NewMessage(message), () => DeliverLive(receiver, message)));
                    sender.Requests.Add(requestId, pending);
                }
            }
        }

        if (ended)
        {
            return await RefuseSendAsync(sender, sessionId, cancellationToken);
        }

        try
        {
            await pending.Committed;
            sender.Requests.Committed(sessionId, requestId, pending.MsgId);
            return new SendResult(ResultCode.Success, pending.MsgId);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, nameof(SendAsync), ex);
            sender.Requests.Remove(sessionId, requestId);
            return new SendResult(ResultCode.InternalErr, Message: "store unavailable");
        }
    }

    public async ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        LiveSession? session;
        lock (_gate)
        {
            _sessions.TryGetValue(sessionId, out session);
        }

        if (session is null || !session.Has(accountId))
        {
            return ResultCode.ParamErr;
        }

        var partner = session.PartnerOf(accountId);
        lock (session)
        {
            if (msgId == 0 || msgId > session.LastMsgId)
            {
                return ResultCode.ParamErr;
            }
        }

        try
        {
            await writer.WriteAsync(new StoreWrite.ViewedUpTo(sessionId, accountId, msgId, time.GetUtcNow().ToUnixTimeMilliseconds()));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, nameof(ViewedAckAsync), ex);
            return ResultCode.InternalErr;
        }

        await SignalAsync(partner, new SignalPush(SignalKind.ViewedAck, accountId, partner.Id, sessionId, accountId, MsgId: msgId), cancellationToken);
        return ResultCode.Success;
    }

    public async ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken)
    {
        LiveSession? session;
        lock (_gate)
        {
            if (!_sessions.TryGetValue(sessionId, out session) || !session.Has(accountId))
            {
                session = null;
            }
            else
            {
                EndSessionLocked(session);
            }
        }

        if (session is null)
        {
            var record = await store.FindSessionAsync(sessionId, cancellationToken);
            return record is not null && (record.FirstAccountId == accountId || record.SecondAccountId == accountId)
                ? ResultCode.NoDataFound
                : ResultCode.ParamErr;
        }

        Log.SessionEnded(logger, sessionId, accountId);
        await FinishEndingAsync(accountId, [session], cancellationToken);
        return ResultCode.Success;
    }

    public async ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken)
    {
        LiveSession? session;
        lock (_gate)
        {
            _sessions.TryGetValue(sessionId, out session);
        }

        if (session is null || !session.Has(accountId))
        {
            return ResultCode.ParamErr;
        }

        var now = time.GetTimestamp();
        lock (session)
        {
            var last = session.IsFirst(accountId) ? session.FirstTypingAt : session.SecondTypingAt;
            if (session.Ended || (last != 0 && time.GetElapsedTime(last, now) < _options.TypingInterval))
            {
                return ResultCode.RateLimited;
            }

            if (session.IsFirst(accountId))
            {
                session.FirstTypingAt = now;
            }
            else
            {
                session.SecondTypingAt = now;
            }
        }

        var partner = session.PartnerOf(accountId);
        await SignalAsync(partner, new SignalPush(SignalKind.Typing, accountId, partner.Id, sessionId, accountId), cancellationToken);
        return ResultCode.Success;
    }

    public ValueTask<ChatStats> GetStatsAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(new ChatStats(_online, _pool.Count));
        }
    }

    /// <summary>Ends the sessions of accounts whose grace period has run out. Called by <see cref="LogicSweeper"/>.</summary>
    public async Task ExpireGraceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        List<(ulong AccountId, List<LiveSession> Ending)> expired = [];
        lock (_gate)
        {
            foreach (var accountId in _away)
            {
                var account = _accounts[accountId];
                if (account.AwaySinceTimestamp is { } since && time.GetElapsedTime(since, now) >= _options.GracePeriod)
                {
                    expired.Add((accountId, EndAllSessionsLocked(account)));
                }
            }

            foreach (var (accountId, _) in expired)
            {
                _away.Remove(accountId);
                var account = _accounts[accountId];
                account.AwaySinceTimestamp = null;
                ForgetIfIdleLocked(account);
            }
        }

        foreach (var (accountId, ending) in expired)
        {
            Log.GraceExpired(logger, accountId, ending.Count);
            await FinishEndingAsync(accountId, ending, cancellationToken);
        }
    }

    private static int CountCharacters(string content)
    {
        var count = 0;
        foreach (var _ in content.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    private async ValueTask<SendResult> RefuseSendAsync(LiveAccount sender, ulong sessionId, CancellationToken cancellationToken)
    {
        // A session of the sender's that has ended gets the seed's answer: an error code and a PartnerExit.
        var record = await store.FindSessionAsync(sessionId, cancellationToken);
        // Memory holds every active session, so a session of the sender's that is not there has ended.
        if (record is null || (record.FirstAccountId != sender.Id && record.SecondAccountId != sender.Id))
        {
            return new SendResult(ResultCode.ParamErr, Message: "not your session");
        }

        await SignalAsync(sender, new SignalPush(SignalKind.PartnerExit, 0, sender.Id, sessionId, record.PartnerOf(sender.Id)), cancellationToken);
        return new SendResult(ResultCode.NoDataFound, Message: "the session has ended");
    }

    private bool ShareActiveSessionLocked(LiveAccount caller, ulong candidate)
    {
        foreach (var sessionId in caller.Sessions)
        {
            if (_sessions.TryGetValue(sessionId, out var session) && session.Has(candidate))
            {
                return true;
            }
        }

        return false;
    }

    private List<LiveSession> EndAllSessionsLocked(LiveAccount account)
    {
        var ending = new List<LiveSession>(account.Sessions.Count);
        foreach (var sessionId in account.Sessions.ToArray())
        {
            if (_sessions.TryGetValue(sessionId, out var session))
            {
                EndSessionLocked(session);
                ending.Add(session);
            }
        }

        return ending;
    }

    private void EndSessionLocked(LiveSession session)
    {
        lock (session)
        {
            session.Ended = true;
        }

        _sessions.Remove(session.Id);
        foreach (var member in (ReadOnlySpan<LiveAccount>)[session.First, session.Second])
        {
            member.Sessions.Remove(session.Id);
            lock (member)
            {
                member.ForgetMarks(session.Id);
            }

            ForgetIfIdleLocked(member);
        }
    }

    /// <summary>An account with no socket and no session needs no memory: RECONNECT reloads it from the store.</summary>
    private void ForgetIfIdleLocked(LiveAccount account)
    {
        if (account.Endpoint is null && account.Sessions.Count == 0 && account.AwaySinceTimestamp is null)
        {
            _accounts.Remove(account.Id);
        }
    }

    /// <summary>Records ended sessions and tells each partner that <paramref name="leaverId"/> left.</summary>
    private async Task FinishEndingAsync(ulong leaverId, List<LiveSession> ending, CancellationToken cancellationToken)
    {
        var endedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var session in ending)
        {
            var partner = session.PartnerOf(leaverId);
            try
            {
                await writer.WriteAsync(new StoreWrite.SessionEnded(session.Id, endedAt));
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, nameof(FinishEndingAsync), ex);
            }

            await SignalAsync(partner, new SignalPush(SignalKind.PartnerExit, 0, partner.Id, session.Id, leaverId), cancellationToken);
        }
    }

    private async ValueTask SignalAsync(LiveAccount receiver, SignalPush signal, CancellationToken cancellationToken)
    {
        var endpoint = receiver.Endpoint;
        if (endpoint is { } to)
        {
            await push.PushSignalAsync(to, signal, cancellationToken);
        }
    }
}
