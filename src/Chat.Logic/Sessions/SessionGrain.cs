using Chat.Logic.Diagnostics;
using Chat.Logic.Ids;
using Chat.Logic.Matching;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Logic.Sessions;

/// <summary>
/// A session's rules and its ordered push path. Reentrant: a message waiting for its commit does
/// not hold up the next one, and every turn changes the state before its first await, so a turn
/// sees the state whole. Every push about the session goes through a member's outbox in the order
/// the turns happened, and a message leaves the outbox only once committed.
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
    LogicMetrics metrics,
    LogicNodeAddress node,
    TimeProvider time,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain, IDisposable
{
    private const int ReplayPage = 256;
    private readonly LogicOptions _options = options.Value;
    private readonly CancellationTokenSource _deactivating = new();
    private readonly List<Task> _replays = [];
    private ulong _id;
    private SessionMember? _first;
    private SessionMember? _second;
    private ulong _lastMsgId;
    private bool _ended;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = (ulong)this.GetPrimaryKeyLong();
        var state = await store.LoadSessionAsync(_id, cancellationToken);
        if (state is null)
        {
            return; // a session id nobody created: every call is answered ParamErr, and it goes
        }

        _first = new SessionMember(state.First);
        _second = new SessionMember(state.Second);
        _lastMsgId = state.LastMsgId;
        _ended = state.Session.EndedAtUnixMs is not null;
        if (_ended)
        {
            return; // answered from the store's record, then it goes
        }

        // Rebuilt while a member's socket is open (the node that held the session died): pushes of
        // the last moments may never have left, so the member gets everything above its delivery mark.
        foreach (var member in (ReadOnlySpan<SessionMember>)[_first, _second])
        {
            if (member.Endpoint is { } endpoint && _lastMsgId > member.DeliveredUpTo)
            {
                member.Resuming = true;
                StartReplay(member, endpoint);
            }
        }
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

    public Task<OpenedSession> Open(ulong callerId)
    {
        if (!IsMember(callerId, out var caller, out var partner) || _ended)
        {
            return Task.FromResult(new OpenedSession(ResultCode.NoDataFound));
        }

        Enqueue(partner, new SignalPush(SignalKind.NewSession, caller.Id, partner.Id, _id, caller.Id, caller.NickName));
        return Task.FromResult(new OpenedSession(ResultCode.Success, partner.Id, partner.NickName));
    }

    public async ValueTask<SendOutcome> Send(ulong senderId, string requestId, string content)
    {
        if (!IsMember(senderId, out var sender, out var receiver))
        {
            return Outcome(ResultCode.ParamErr, message: "not your session");
        }

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
                // The seed's answer to a message into an ended session: an error code and a PartnerExit.
                Enqueue(sender, new SignalPush(SignalKind.PartnerExit, 0, sender.Id, _id, receiver.Id));
                return Outcome(ResultCode.NoDataFound, message: "the session has ended");
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
        var message = new MessageRecord(msgId, _id, senderId, requestId, content, time.GetUtcNow().ToUnixTimeMilliseconds());
        var committed = writer.AppendAsync(message);
        (sender.Sent ??= new RecentRequests()).Add(requestId, msgId, committed);
        receiver.Outbox.Enqueue(new Outgoing(message, committed, null));
        WriteOutcome outcome;
        try
        {
            outcome = await committed;
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(Send), ex);
            sender.Sent.Failed(requestId, msgId);
            Pump(receiver);
            return Outcome(ResultCode.InternalErr, message: "store unavailable");
        }

        Pump(receiver);
        switch (outcome.Result)
        {
            case WriteResult.Stored:
                sender.Sent.Committed(requestId, msgId);
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

    public Task<ResultCode> ViewedAck(ulong readerId, ulong msgId)
    {
        if (!IsMember(readerId, out var reader, out var partner) || msgId == 0 || msgId > _lastMsgId)
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

    public Task<ResultCode> Typing(ulong accountId)
    {
        if (!IsMember(accountId, out var typist, out var partner))
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

    public async Task<ResultCode> End(ulong leaverId)
    {
        if (!IsMember(leaverId, out var leaver, out var partner))
        {
            return ResultCode.ParamErr;
        }

        if (_ended)
        {
            return ResultCode.NoDataFound;
        }

        _ended = true;
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
        grains.Matchmaker.PairEnded(_first!.Id, _second!.Id).Ignore();
        DeactivateWhenDone();
        return ResultCode.Success;
    }

    public async Task ConfirmDelivered(ulong accountId, ulong msgId)
    {
        if (!IsMember(accountId, out var member, out _) || msgId <= member.DeliveredUpTo || msgId > _lastMsgId)
        {
            return;
        }

        member.DeliveredUpTo = msgId;
        member.PushedUpTo = Math.Max(member.PushedUpTo, msgId); // the client has it: a replay need not send it again
        try
        {
            await writer.WriteAsync(new StoreWrite.DeliveredUpTo(_id, accountId, msgId));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, _id, nameof(ConfirmDelivered), ex); // a lagging mark costs duplicate replays, never loss
        }
    }

    public Task<AttachedSession?> Attach(ulong accountId, ClientEndpoint endpoint)
    {
        if (!IsMember(accountId, out var member, out var partner) || _ended)
        {
            return Task.FromResult<AttachedSession?>(null);
        }

        var wasAway = member.Away;
        member.Endpoint = endpoint;
        member.Away = false;
        member.PushedUpTo = member.DeliveredUpTo; // a new socket has seen nothing yet
        member.Resuming = true;
        member.Outbox.Clear(); // meant for the old socket; its messages come again with the replay
        if (wasAway)
        {
            Enqueue(partner, new SignalPush(SignalKind.PartnerBack, 0, partner.Id, _id, member.Id, member.NickName));
        }

        return Task.FromResult<AttachedSession?>(new AttachedSession(_id, partner.Id, partner.NickName, partner.Endpoint is not null, partner.ViewedUpTo));
    }

    public Task Resume(ulong accountId, ClientEndpoint endpoint)
    {
        if (IsMember(accountId, out var member, out _) && member.Endpoint == endpoint && member.Resuming)
        {
            StartReplay(member, endpoint);
        }

        return Task.CompletedTask;
    }

    public Task Away(ulong accountId, ClientEndpoint endpoint)
    {
        if (!IsMember(accountId, out var member, out var partner) || member.Endpoint != endpoint)
        {
            return Task.CompletedTask; // a socket already replaced by a newer one
        }

        member.Endpoint = null;
        member.Resuming = false;
        member.Outbox.Clear();
        member.Away = true;
        if (!_ended)
        {
            Enqueue(partner, new SignalPush(SignalKind.PartnerAway, 0, partner.Id, _id, member.Id));
        }

        return Task.CompletedTask;
    }

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

    private void Enqueue(SessionMember receiver, SignalPush signal)
    {
        receiver.Outbox.Enqueue(new Outgoing(null, null, signal));
        Pump(receiver);
    }

    /// <summary>Pushes what is at the head of the member's outbox, in order, up to the first message not committed yet.</summary>
    private void Pump(SessionMember receiver)
    {
        var outbox = receiver.Outbox;
        while (outbox.TryPeek(out var next))
        {
            if (receiver.Endpoint is not { } to)
            {
                outbox.Clear(); // away: messages wait in the store for the replay; signals are moments that passed
                return;
            }

            if (receiver.Resuming || next.Committed is { IsCompleted: false })
            {
                return; // the replay, or that message's commit, pumps again
            }

            outbox.Dequeue();
            if (next.Signal is { } signal)
            {
                Observe(push.PushSignalAsync(to, signal, CancellationToken.None));
            }
            else if (next.Message is { } message && next.Committed!.IsCompletedSuccessfully && next.Committed.Result is var outcome)
            {
                // Stored now, or stored by an attempt whose commit looked failed and so was never
                // pushed: it goes under its stored id, unless the socket has had that one already.
                var storedId = outcome.Result switch
                {
                    WriteResult.Stored => message.Id,
                    WriteResult.AlreadyStored => outcome.MsgId,
                    _ => 0UL,
                };
                if (storedId > receiver.PushedUpTo)
                {
                    receiver.PushedUpTo = storedId;
                    metrics.MessageDelivered();
                    Observe(push.PushDialogueAsync(to, ToPush(message with { Id = storedId }, receiver.Id), CancellationToken.None));
                }
            }
        }
    }

    private void StartReplay(SessionMember member, ClientEndpoint endpoint)
    {
        _replays.RemoveAll(r => r.IsCompleted);
        _replays.Add(ReplayAsync(member, endpoint));
    }

    /// <summary>Pushes, page by page in msgId order, what the member's socket has not had; then the outbox goes on.</summary>
    private async Task ReplayAsync(SessionMember member, ClientEndpoint to)
    {
        var replayed = 0;
        try
        {
            while (member.Endpoint == to)
            {
                var missed = await store.ReadMessagesForAsync(_id, member.Id, member.PushedUpTo, ReplayPage, _deactivating.Token);
                foreach (var message in missed)
                {
                    if (member.Endpoint != to)
                    {
                        return; // replaced or gone meanwhile
                    }

                    if (message.Id <= member.PushedUpTo)
                    {
                        continue;
                    }

                    member.PushedUpTo = message.Id;
                    if (!await push.PushDialogueAsync(to, ToPush(message, member.Id) with { Replay = true }, _deactivating.Token))
                    {
                        return; // the socket is gone
                    }

                    metrics.MessageReplayed();
                    replayed++;
                }

                if (missed.Count < ReplayPage && member.Endpoint == to)
                {
                    // Messages committed from now on wait in the outbox, which follows at once.
                    member.Resuming = false;
                    Pump(member);
                    Log.Resumed(logger, _id, member.Id, to, replayed);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_deactivating.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.ReplayFailed(logger, _id, member.Id, ex); // the member's next reconnect replays again
        }
        finally
        {
            if (_ended)
            {
                DeactivateWhenDone();
            }
        }
    }

    /// <summary>An ended session needs no activation once nothing waits in it any more.</summary>
    private void DeactivateWhenDone()
    {
        if (!_first!.Resuming && !_second!.Resuming)
        {
            DeactivateOnIdle();
        }
    }

    private void Observe(ValueTask<bool> pushed)
    {
        if (!pushed.IsCompletedSuccessfully)
        {
            _ = ObserveAsync(pushed);
        }
    }

    private async Task ObserveAsync(ValueTask<bool> pushed)
    {
        try
        {
            await pushed;
        }
        catch (Exception ex)
        {
            Log.PushFailed(logger, _id, ex);
        }
    }

    private static DialoguePush ToPush(MessageRecord message, ulong receiverId) =>
        new(message.SenderId, message.SessionId, receiverId, message.Content, message.Id, message.CreatedAtUnixMs);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Session {SessionId}: a store operation in {Operation} failed.")]
        public static partial void StoreFailed(ILogger logger, ulong sessionId, string operation, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Session {SessionId}: a push failed.")]
        public static partial void PushFailed(ILogger logger, ulong sessionId, Exception exception);

        [LoggerMessage(3, LogLevel.Debug, "Session {SessionId} ended by {AccountId}.")]
        public static partial void Ended(ILogger logger, ulong sessionId, ulong accountId);

        [LoggerMessage(4, LogLevel.Debug, "Session {SessionId}: account {AccountId} resumed on {Endpoint}; {Replayed} messages replayed.")]
        public static partial void Resumed(ILogger logger, ulong sessionId, ulong accountId, ClientEndpoint endpoint, int replayed);

        [LoggerMessage(5, LogLevel.Warning, "Session {SessionId}: the replay to account {AccountId} failed.")]
        public static partial void ReplayFailed(ILogger logger, ulong sessionId, ulong accountId, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "Session {SessionId}: the store refused message {MsgId}: {Reason}")]
        public static partial void MessageRefused(ILogger logger, ulong sessionId, ulong msgId, string? reason);
    }
}
