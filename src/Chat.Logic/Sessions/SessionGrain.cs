using Chat.Logic.Diagnostics;
using Chat.Logic.Filtering;
using Chat.Logic.Ids;
using Chat.Logic.Matching;
using Chat.Logic.Moderation;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Logic.Sessions;

/// <summary>
/// A session's rules: who its members are, the msgIds of its messages, sending, read receipts,
/// typing, ending, and a member's socket coming and going. Reentrant: a message waiting for its
/// commit does not hold up the next one, and every turn changes the state before its first await,
/// so a turn sees the state whole. Every push about the session goes through the receiver's
/// <see cref="MemberOutbox"/> in the order the turns happened; the outbox delivers (a message
/// leaves only once committed, a new socket gets its replay first), the grain decides what to say.
/// </summary>
/// <remarks>
/// Kept while its members may still talk: an idle collection would cost a replay from the
/// delivery marks on the next activation. It deactivates itself once the session has ended.
/// </remarks>
[Reentrant]
[CollectionAgeLimit(Days = 1)]
internal sealed partial class SessionGrain(
    ChatGrains grains,
    IChatStore store,
    StoreWriter writer,
    IdAllocator ids,
    IPushChannel push,
    IOptions<LogicOptions> options,
    IOptions<MatchingOptions> matching,
    IMatchAvoidance avoidance,
    IOptions<ModerationOptions> moderation,
    LogicMetrics metrics,
    LogicNodeAddress node,
    TimeProvider time,
    MessageFilters filters,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain, IDisposable
{
    private readonly LogicOptions _options = options.Value;
    private readonly TimeSpan _rematchAfter = matching.Value.RematchAfter;
    private readonly CancellationTokenSource _deactivating = new();
    private readonly List<Task> _replays = [];
    private readonly ReadMissedMessages _readMissed = store.ReadMessagesForAsync;
    private ulong _id;
    private SessionMember? _first;
    private SessionMember? _second;
    private ulong _lastMsgId;
    private bool _ended;
    private long _endedAt;

    // Where each member's MATCH_REQ came from, by account id (for a report); lost with the activation.
    private (ulong Account, string? Address) _addressA;
    private (ulong Account, string? Address) _addressB;

    // Set once the partner has been told of the session (Open), in this activation.
    private bool _opened;

    // Set while an ended session is kept for a late report (it knows its members' addresses).
    private bool _keptForReports;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = (ulong)this.GetPrimaryKeyLong();
        var state = await store.LoadSessionAsync(_id, cancellationToken);
        if (state is null)
        {
            return; // a session id nobody created: every call is answered ParamErr, and it goes
        }

        _first = Member(state.First);
        _second = Member(state.Second);
        _lastMsgId = state.LastMsgId;
        _ended = state.Session.EndedAtUnixMs is not null;
        _endedAt = state.Session.EndedAtUnixMs ?? 0;
        if (_ended)
        {
            return; // answered from the store's record, then it goes
        }

        // Rebuilt while a member's socket is open (the node that held the session died): pushes of
        // the last moments may never have left, so the member gets everything above its delivery mark.
        Track(_first.Outbox.ResumeAfterActivation(_lastMsgId, _deactivating.Token));
        Track(_second.Outbox.ResumeAfterActivation(_lastMsgId, _deactivating.Token));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _deactivating.CancelAsync();
        try
        {
            await Task.WhenAll(_replays).WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is OperationCanceledException)
        {
        }
    }

    public void Dispose() => _deactivating.Dispose();

    public Task<OpenedSession> Open(ulong callerId, string? callerAddress, string? partnerAddress, string[] commonInterests)
    {
        if (!IsMember(callerId, out var caller, out var partner) || _ended)
        {
            return Task.FromResult(new OpenedSession(ResultCode.NoDataFound));
        }

        // Opened again when the caller's first answer reached nobody (it asked again): the partner knows already.
        if (!_opened)
        {
            _opened = true;
            (_addressA, _addressB) = ((caller.Id, callerAddress), (partner.Id, partnerAddress));
            Enqueue(partner, new SignalPush(SignalKind.NewSession, caller.Id, partner.Id, _id, caller.Id, caller.NickName, CommonInterests: commonInterests));
        }

        return Task.FromResult(new OpenedSession(ResultCode.Success, partner.Id, partner.NickName));
    }

    public Task TellCaller(ulong callerId, string[] commonInterests)
    {
        if (IsMember(callerId, out var caller, out var partner) && !_ended)
        {
            Enqueue(caller, new SignalPush(SignalKind.NewSession, partner.Id, caller.Id, _id, partner.Id, partner.NickName, CommonInterests: commonInterests));
        }

        return Task.CompletedTask;
    }

    public Task OpenBoth(ulong firstId, string? firstAddress, string? secondAddress, string[] commonInterests)
    {
        if (_first is not null && _second is not null && !_ended && (_first.Id == firstId || _second.Id == firstId))
        {
            _opened = true;
            var (first, second) = _first.Id == firstId ? (_first, _second) : (_second, _first);
            (_addressA, _addressB) = ((first.Id, firstAddress), (second.Id, secondAddress));
            Enqueue(_first, new SignalPush(SignalKind.NewSession, _second.Id, _first.Id, _id, _second.Id, _second.NickName, CommonInterests: commonInterests));
            Enqueue(_second, new SignalPush(SignalKind.NewSession, _first.Id, _second.Id, _id, _first.Id, _first.NickName, CommonInterests: commonInterests));
        }

        return Task.CompletedTask;
    }

    public ValueTask<SendOutcome> Send(ulong senderId, string requestId, string content, string? viaBroker)
    {
        if (!IsMember(senderId, viaBroker, out var sender, out var receiver))
        {
            // Away because its broker was taken for gone, and that broker speaks for it again: it is back (a partition
            // healed) and about to reclaim the account (the housekeeper's next check), so the client tries again; or
            // the session ended meanwhile (the grace period ran out), which it hears now.
            if (IsMember(senderId, out var away, out var partner) && away.Endpoint is null && viaBroker is not null && away.AwayFrom == viaBroker)
            {
                return new(_ended ? EndedOutcome(away, partner) : Outcome(ResultCode.InternalErr, message: "reconnecting, try again"));
            }

            return new(Outcome(ResultCode.ParamErr, message: "not your session"));
        }

        // A retry is answered as its first attempt was: stored, still being judged, or refused (each
        // message is filtered once), and never filtered again if it is stored (StoreAsync, RefusedAsync).
        if (sender.Sent?.TryGet(requestId, out var sentId, out var committing) == true)
        {
            return new(RetriedAsync(sentId, committing));
        }

        if (sender.Screening?.TryGetValue(requestId, out var judged) == true)
        {
            return new(judged);
        }

        if (sender.Refused?.TryGet(requestId, out var refusal) == true)
        {
            return new(Outcome(ResultCode.ParamErr, message: refusal));
        }

        if (_ended)
        {
            return new(EndedOutcome(sender, receiver));
        }

        // The filter, before the message has an id: a refused message leaves nothing behind.
        var verdict = filters.Check(new FilteredMessage(_id, senderId, content, sender.SentCount), _deactivating.Token, out var pending);
        var before = sender.ScreeningTail is { IsCompleted: false } tail ? tail : null;
        if (verdict is { } judgedNow && before is null)
        {
            return judgedNow.Refused ? RefusedAsync(sender, requestId, judgedNow) : StoreAsync(sender, receiver, requestId, content, turn: null);
        }

        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sender.Screening ??= [];
        var outcome = JudgedAsync(sender, receiver, requestId, content, pending ?? Task.FromResult(verdict!.Value), before, turn);
        if (!outcome.IsCompleted)
        {
            sender.Screening[requestId] = outcome;
        }

        if (!turn.Task.IsCompleted)
        {
            sender.ScreeningTail = turn.Task;
        }

        return new(outcome);
    }

    /// <summary>A message whose verdict is awaited (a webhook): it takes its id after the sender's earlier messages, in the order they were sent.</summary>
    private async Task<SendOutcome> JudgedAsync(SessionMember sender, SessionMember receiver, string requestId, string content, Task<FilterVerdict> pending, Task? before, TaskCompletionSource turn)
    {
        try
        {
            FilterVerdict verdict;
            try
            {
                verdict = await pending;
            }
            catch (Exception ex)
            {
                Log.FilterFailed(logger, _id, ex); // the client retries with the same requestId
                return Outcome(ResultCode.InternalErr, message: "try again");
            }
            finally
            {
                if (before is not null)
                {
                    await before; // never faults: each turn is only ever set
                }
            }

            if (verdict.Refused)
            {
                return await RefusedAsync(sender, requestId, verdict);
            }

            if (_ended)
            {
                return EndedOutcome(sender, receiver);
            }

            return await StoreAsync(sender, receiver, requestId, content, turn);
        }
        finally
        {
            turn.TrySetResult();
            sender.Screening?.Remove(requestId);
            if (sender.ScreeningTail == turn.Task)
            {
                sender.ScreeningTail = null;
            }
        }
    }

    /// <summary>
    /// The filter refused the message. Unless the store holds it already under its requestId: an earlier
    /// attempt may have been stored (passed by the filter then) without this grain knowing, when its
    /// commit's answer was lost or more of the sender's messages came since than the grain remembers.
    /// A stored message is never refused afterwards; its id is the answer.
    /// </summary>
    private async ValueTask<SendOutcome> RefusedAsync(SessionMember sender, string requestId, FilterVerdict verdict)
    {
        if (sender.MayHaveForgotten)
        {
            ulong? stored;
            try
            {
                stored = await store.FindMessageIdAsync(_id, sender.Id, requestId, _deactivating.Token);
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, _id, nameof(RefusedAsync), ex);
                return Outcome(ResultCode.InternalErr, message: "store unavailable");
            }

            if (stored is { } msgId)
            {
                (sender.Sent ??= new RecentRequests()).Add(requestId, msgId, committing: null);
                return Outcome(ResultCode.Success, msgId);
            }
        }

        (sender.Refused ??= new RecentRefusals()).Add(requestId, verdict.Message);
        Log.Filtered(logger, _id, sender.Id, verdict.Filter);
        return Outcome(ResultCode.ParamErr, message: verdict.Message);
    }

    private SendOutcome EndedOutcome(SessionMember sender, SessionMember receiver)
    {
        // The seed's answer to a message into an ended session: an error code and a PartnerExit.
        Enqueue(sender, new SignalPush(SignalKind.PartnerExit, 0, sender.Id, _id, receiver.Id));
        return Outcome(ResultCode.NoDataFound, message: "the session has ended");
    }

    /// <param name="turn">Set once the message has its id, so the sender's next judged message may take the next.</param>
    private async ValueTask<SendOutcome> StoreAsync(SessionMember sender, SessionMember receiver, string requestId, string content, TaskCompletionSource? turn)
    {
        ulong msgId;
        while (true)
        {
            // A retry is answered with the first attempt's message, even after the session ended.
            if (sender.Sent?.TryGet(requestId, out var sentId, out var committing) == true)
            {
                return await RetriedAsync(sentId, committing);
            }

            if (_ended)
            {
                return EndedOutcome(sender, receiver);
            }

            if (ids.TryTake(IdKind.Message, _lastMsgId, out msgId))
            {
                break;
            }

            try
            {
                await ids.WhenAvailableAsync(IdKind.Message, _lastMsgId);
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, _id, nameof(Send), ex);
                return Outcome(ResultCode.InternalErr, message: "store unavailable");
            }
        }

        _lastMsgId = msgId;
        var message = new MessageRecord(msgId, _id, sender.Id, requestId, content, time.GetUtcNow().ToUnixTimeMilliseconds());
        var committed = writer.AppendAsync(message);
        (sender.Sent ??= new RecentRequests()).Add(requestId, msgId, committed);
        receiver.Outbox.Enqueue(message, committed);
        turn?.TrySetResult();
        WriteOutcome outcome;
        try
        {
            outcome = await committed;
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(Send), ex);
            sender.Sent.Failed(requestId, msgId);
            sender.LostAnswer = true; // it may have committed all the same: a refusal of its retry asks the store first
            receiver.Outbox.Pump();
            return Outcome(ResultCode.InternalErr, message: "store unavailable");
        }

        receiver.Outbox.Pump();
        switch (outcome.Result)
        {
            case WriteResult.Stored:
                sender.Sent.Committed(requestId, msgId);
                sender.SentCount++;
                metrics.MessageStored();
                return Outcome(ResultCode.Success, msgId);
            case WriteResult.AlreadyStored:
                // The store has this requestId already: an earlier attempt committed though its sender
                // never heard (the connection died during COMMIT). That message is the answer.
                sender.Sent.Failed(requestId, msgId);
                sender.Sent.Add(requestId, outcome.MsgId, committing: null);
                return Outcome(ResultCode.Success, outcome.MsgId);
            default:
                Log.MessageRefused(logger, _id, msgId, outcome.Reason);
                sender.Sent.Failed(requestId, msgId);
                return Outcome(ResultCode.InternalErr, message: "the message could not be stored");
        }
    }

    public Task<ResultCode> ViewedAck(ulong readerId, ulong msgId, string? viaBroker)
    {
        if (!IsMember(readerId, viaBroker, out var reader, out var partner) || msgId == 0 || msgId > _lastMsgId)
        {
            return Task.FromResult(ResultCode.ParamErr);
        }

        // The mark is queued, not awaited: nothing waits for it but a later reconnect's partnerReadUpTo
        // (from this grain while it lives), and the writer logs it if it is lost.
        reader.ViewedUpTo = Math.Max(reader.ViewedUpTo, msgId);
        writer.Post(new StoreWrite.ViewedUpTo(_id, readerId, msgId, time.GetUtcNow().ToUnixTimeMilliseconds()));
        Enqueue(partner, new SignalPush(SignalKind.ViewedAck, reader.Id, partner.Id, _id, reader.Id, MsgId: msgId));
        return Task.FromResult(ResultCode.Success);
    }

    public Task<ResultCode> Typing(ulong accountId, string? viaBroker)
    {
        if (!IsMember(accountId, viaBroker, out var typist, out var partner))
        {
            return Task.FromResult(ResultCode.ParamErr);
        }

        var now = time.GetTimestamp();
        if (_ended || (typist.TypingAt != 0 && time.GetElapsedTime(typist.TypingAt, now) < _options.TypingInterval))
        {
            return Task.FromResult(ResultCode.RateLimited);
        }

        typist.TypingAt = now;
        Enqueue(partner, new SignalPush(SignalKind.Typing, typist.Id, partner.Id, _id, typist.Id));
        return Task.FromResult(ResultCode.Success);
    }

    public async Task<ResultCode> End(ulong leaverId, string? viaBroker)
    {
        if (!IsMember(leaverId, viaBroker, out var leaver, out var partner))
        {
            return ResultCode.ParamErr;
        }

        if (_ended)
        {
            return ResultCode.NoDataFound;
        }

        await EndAsync(leaver, partner);
        return ResultCode.Success;
    }

    public async Task<ReportedSession> Report(ulong reporterId, string? viaBroker)
    {
        // A member whose socket is gone (it was replaced, or is away) may still report: viaBroker is only checked while it has one.
        if (!IsMember(reporterId, out var reporter, out var partner) || (viaBroker is not null && reporter.Endpoint is { } at && at.Broker != viaBroker))
        {
            return new ReportedSession(ResultCode.ParamErr);
        }

        if (_ended && time.GetUtcNow().ToUnixTimeMilliseconds() - _endedAt > moderation.Value.ReportableFor.TotalMilliseconds)
        {
            return new ReportedSession(ResultCode.NoDataFound);
        }

        if (!_ended)
        {
            await EndAsync(reporter, partner); // as END_SESSION_REQ: the partner hears PartnerExit, and nothing of the report
        }

        return new ReportedSession(ResultCode.Success, partner.Id, AddressOf(reporter.Id), AddressOf(partner.Id));
    }

    private string? AddressOf(ulong accountId) => _addressA.Account == accountId ? _addressA.Address : _addressB.Account == accountId ? _addressB.Address : null;

    /// <summary>Ends the active session for both: kept in the store, the partner told, the pair free to match again.</summary>
    private async Task EndAsync(SessionMember leaver, SessionMember partner)
    {
        var leaverId = leaver.Id;
        _ended = true;
        _endedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        try
        {
            await writer.WriteAsync(new StoreWrite.SessionEnded(_id, time.GetUtcNow().ToUnixTimeMilliseconds()));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(End), ex); // a restart may find it active: its members are then away, and it ends again
        }

        Log.Ended(logger, _id, leaverId);
        Enqueue(partner, new SignalPush(SignalKind.PartnerExit, 0, partner.Id, _id, leaver.Id));
        await EndPairAsync(_first!.Id, _second!.Id);
        if (_addressA.Address is not null || _addressB.Address is not null)
        {
            // A report comes after the end as often as not: keep the addresses until it can no longer come.
            _keptForReports = true;
            this.RegisterGrainTimer(
                _ =>
                {
                    _keptForReports = false;
                    DeactivateWhenDone();
                    return Task.CompletedTask;
                },
                moderation.Value.ReportableFor,
                Timeout.InfiniteTimeSpan);
        }

        DeactivateWhenDone();
    }

    public async Task<ResultCode> ConfirmDelivered(ulong accountId, ulong msgId, string? viaBroker)
    {
        if (!IsMember(accountId, viaBroker, out var member, out _))
        {
            return ResultCode.ParamErr;
        }

        if (msgId > _lastMsgId || !member.Outbox.Delivered(msgId))
        {
            return ResultCode.Success; // nothing to move (a mark only rises)
        }

        Track(member.Outbox.ContinueReplay(_deactivating.Token)); // a paused replay's next page, now that the client has the last

        try
        {
            await writer.WriteAsync(new StoreWrite.DeliveredUpTo(_id, accountId, msgId));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(ConfirmDelivered), ex); // a lagging mark costs duplicate replays, never loss
        }

        return ResultCode.Success;
    }

    public Task<AttachedSession?> Attach(ulong accountId, ClientEndpoint endpoint)
    {
        if (!IsMember(accountId, out var member, out var partner) || _ended)
        {
            return Task.FromResult<AttachedSession?>(null);
        }

        var wasAway = member.Away;
        member.Outbox.Attach(endpoint); // pushes wait for its replay (Resume)
        member.Away = false;
        if (wasAway)
        {
            Enqueue(partner, new SignalPush(SignalKind.PartnerBack, 0, partner.Id, _id, member.Id, member.NickName));
        }

        return Task.FromResult<AttachedSession?>(new AttachedSession(_id, partner.Id, partner.NickName, partner.Endpoint is not null, partner.ViewedUpTo));
    }

    public Task Resume(ulong accountId, ClientEndpoint endpoint)
    {
        if (IsMember(accountId, out var member, out _))
        {
            Track(member.Outbox.Resume(endpoint, _deactivating.Token));
        }

        return Task.CompletedTask;
    }

    public Task Away(ulong accountId, ClientEndpoint endpoint)
    {
        if (!IsMember(accountId, out var member, out var partner) || !member.Outbox.Detach(endpoint))
        {
            return Task.CompletedTask; // a socket already replaced by a newer one
        }

        member.Away = true;
        member.AwayFrom = endpoint.Broker;
        push.Recall(endpoint); // live pushes still on their way there must not arrive after a gap, or behind a reclaim's replay
        if (!_ended)
        {
            Enqueue(partner, new SignalPush(SignalKind.PartnerAway, 0, partner.Id, _id, member.Id));
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// A member, and its request came from the broker its socket is on (<paramref name="viaBroker"/>, the
    /// calling broker's certificate's address; null: in one process, or a cluster without TLS, where
    /// every caller is one of ours). A broker can act for its own visitors only.
    /// </summary>
    private bool IsMember(ulong accountId, string? viaBroker, out SessionMember member, out SessionMember partner) =>
        IsMember(accountId, out member, out partner) && (viaBroker is null || member.Endpoint?.Broker == viaBroker);

    private bool IsMember(ulong accountId, out SessionMember member, out SessionMember partner)
    {
        if (_first is null)
        {
            DeactivateOnIdle(); // no such session: nothing to keep in memory
        }
        else if (_ended)
        {
            DeactivateWhenDone();
        }

        if (_first is not null && _second is not null)
        {
            if (_first.Id == accountId)
            {
                (member, partner) = (_first, _second);
                return true;
            }

            if (_second.Id == accountId)
            {
                (member, partner) = (_second, _first);
                return true;
            }
        }

        (member, partner) = (null!, null!);
        return false;
    }

    /// <summary>
    /// The pair's shards hear the session ended (it no longer counts against the cap), and the two are
    /// not matched again for <see cref="MatchingOptions.RematchAfter"/>, however the chat ended.
    /// </summary>
    private async Task EndPairAsync(ulong first, ulong second)
    {
        // The rule is in place before the end is answered: the two cannot be paired by a MATCH_REQ that follows it.
        try
        {
            await avoidance.Avoid(first, second, null, null, _rematchAfter, TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.AvoidFailed(logger, _id, ex);
        }

        grains.MatchmakerOf(first).PairEnded(first, second).Ignore();
        if (MatchShards.Of(first, grains.MatchmakerShards) != MatchShards.Of(second, grains.MatchmakerShards))
        {
            grains.MatchmakerOf(second).PairEnded(first, second).Ignore();
        }
    }

    /// <summary>An answer to a send, naming this node as the session's (brokers send its next messages here).</summary>
    private SendOutcome Outcome(ResultCode code, ulong msgId = 0, string? message = null) => new(code, msgId, message, node.GrpcAddress);

    private async Task<SendOutcome> RetriedAsync(ulong msgId, Task<WriteOutcome>? committing)
    {
        if (committing is not null)
        {
            WriteOutcome outcome;
            try
            {
                outcome = await committing;
            }
            catch
            {
                return Outcome(ResultCode.InternalErr, message: "store unavailable"); // the first attempt's own turn forgets it
            }

            return outcome.Result switch
            {
                WriteResult.Stored => Outcome(ResultCode.Success, msgId),
                WriteResult.AlreadyStored => Outcome(ResultCode.Success, outcome.MsgId),
                _ => Outcome(ResultCode.InternalErr, message: "the message could not be stored"),
            };
        }

        return Outcome(ResultCode.Success, msgId);
    }

    private static void Enqueue(SessionMember receiver, SignalPush signal) => receiver.Outbox.Enqueue(signal);

    private SessionMember Member(MemberState state) =>
        new(state, new MemberOutbox(_id, state.Account.Id, state.Account.Endpoint, state.DeliveredUpTo, _options.ReplayPage, push, _readMissed, metrics, logger));

    /// <summary>Keeps a replay that started until it ends (deactivation waits for it); an ended session then goes.</summary>
    private void Track(Task? replay)
    {
        if (replay is not null)
        {
            _replays.RemoveAll(r => r.IsCompleted);
            _replays.Add(AfterReplayAsync(replay));
        }
    }

    private async Task AfterReplayAsync(Task replay)
    {
        await replay; // never faults: the replay logs its own failure
        if (_ended)
        {
            DeactivateWhenDone();
        }
    }

    /// <summary>An ended session needs no activation once nothing waits in it any more.</summary>
    private void DeactivateWhenDone()
    {
        if (!_keptForReports && !_first!.Outbox.Resuming && !_second!.Outbox.Resuming)
        {
            DeactivateOnIdle();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Session {SessionId}: a store operation in {Operation} failed.")]
        public static partial void StoreFailed(ILogger logger, ulong sessionId, string operation, Exception exception);

        [LoggerMessage(3, LogLevel.Debug, "Session {SessionId} ended by {AccountId}.")]
        public static partial void Ended(ILogger logger, ulong sessionId, ulong accountId);

        [LoggerMessage(9, LogLevel.Warning, "Session {SessionId} ended, but its members' matchmaker shards did not take the rule against an instant rematch.")]
        public static partial void AvoidFailed(ILogger logger, ulong sessionId, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "Session {SessionId}: the store refused message {MsgId}: {Reason}")]
        public static partial void MessageRefused(ILogger logger, ulong sessionId, ulong msgId, string? reason);

        [LoggerMessage(7, LogLevel.Debug, "Session {SessionId}: the {Filter} filter refused a message of {AccountId}.")]
        public static partial void Filtered(ILogger logger, ulong sessionId, ulong accountId, string? filter);

        [LoggerMessage(8, LogLevel.Error, "Session {SessionId}: a message filter failed.")]
        public static partial void FilterFailed(ILogger logger, ulong sessionId, Exception exception);
    }
}
