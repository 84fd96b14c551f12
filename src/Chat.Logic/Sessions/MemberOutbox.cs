using System.Diagnostics.CodeAnalysis;
using Chat.Logic.Diagnostics;
using Chat.Logic.Storage;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;

namespace Chat.Logic.Sessions;

/// <summary>Reads, in msgId order, up to <paramref name="limit"/> of the session's messages for the receiver above <paramref name="afterMsgId"/> (what a replay sends again).</summary>
internal delegate Task<IReadOnlyList<MessageRecord>> ReadMissedMessages(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken);

/// <summary>
/// Every push to one member of a session, in the order the session's turns made them: its current
/// socket, how far messages were pushed to that socket and are known to have reached the client
/// (the delivery mark), the queue where a message waits for its commit with everything behind it,
/// and the replay that gives a new socket what it has not had before anything live goes through.
/// The session grain keeps the rules (who may send, what a signal says); this class only delivers.
/// </summary>
/// <remarks>
/// <para><b>Synchronisation.</b> None of its own: it belongs to one session grain and is called only
/// from that grain's turns, which Orleans runs one at a time. The grain is reentrant, so turns
/// interleave at their awaits; every method here but the replay is synchronous (a push is handed to
/// the channel and not awaited), so each sees and leaves the state whole.</para>
/// <para><b>Order.</b> A push leaves only from the head of the queue: a message waiting for its
/// commit holds back whatever was queued after it (a PartnerExit never overtakes the last message),
/// and while <see cref="Resuming"/> nothing leaves at all. Pushes for one receiver are made in call
/// order (<see cref="IPushChannel"/>'s contract), so the socket sees them in queue order.</para>
/// <para><b>Replay.</b> The only method that awaits (a page of the store, room in the socket's queue).
/// Another turn may run meanwhile, so after each await it checks that its socket is still the
/// member's (a newer socket, or none, stops it), and it moves <see cref="PushedUpTo"/> before each
/// push, so a live push of the same message, once the gate opens, is not sent twice. Messages
/// committed while it runs wait in the queue; the replay opens the gate and pumps once its last page
/// was short. A full page is as much as one replay sends before the client has it: the replay then
/// pauses, and <see cref="ContinueReplay"/> (once the delivery mark has caught up) sends the next,
/// so a client that never confirms gets one page per reconnect, not the session's whole history.</para>
/// </remarks>
internal sealed partial class MemberOutbox(
    ulong sessionId,
    ulong memberId,
    ClientEndpoint? endpoint,
    ulong deliveredUpTo,
    int replayPage,
    IPushChannel push,
    ReadMissedMessages readMissed,
    LogicMetrics metrics,
    ILogger logger)
{
    private readonly Queue<Outgoing> _queue = new();

    // The replay sent a full page and waits for the delivery mark to reach its end.
    private bool _replayPaused;

    /// <summary>The member's socket; null while it has none.</summary>
    public ClientEndpoint? Endpoint { get; private set; } = endpoint;

    /// <summary>Highest msgId known to have reached the client.</summary>
    public ulong DeliveredUpTo { get; private set; } = deliveredUpTo;

    /// <summary>Highest msgId pushed to the current socket.</summary>
    public ulong PushedUpTo { get; private set; } = deliveredUpTo;

    /// <summary>The current socket has not had its replay yet: pushes wait.</summary>
    public bool Resuming { get; private set; }

    /// <summary>Queues a signal behind what is queued, and pushes what is ready.</summary>
    public void Enqueue(SignalPush signal)
    {
        _queue.Enqueue(Outgoing.Of(signal));
        Pump();
    }

    /// <summary>Queues a message whose commit is <paramref name="commit"/>; it leaves once that is done and the grain <see cref="Pump"/>s.</summary>
    public void Enqueue(MessageRecord message, Task<WriteOutcome> commit) => _queue.Enqueue(Outgoing.Of(message, commit));

    /// <summary>Pushes what is at the head of the queue, in order, up to the first message not committed yet.</summary>
    public void Pump()
    {
        while (_queue.TryPeek(out var next))
        {
            if (Endpoint is not { } to)
            {
                _queue.Clear(); // away: messages wait in the store for the replay; signals are moments that passed
                return;
            }

            if (Resuming || next.IsWaiting)
            {
                return; // the replay, or that message's commit, pumps again
            }

            _queue.Dequeue();
            if (next.Signal is { } signal)
            {
                Observe(push.PushSignalAsync(to, signal, CancellationToken.None));
            }
            else if (next.TryGetStored(out var message, out var storedId) && storedId > PushedUpTo)
            {
                // Stored now, or stored by an attempt whose commit looked failed and so was never
                // pushed: it goes under its stored id, unless the socket has had that one already.
                PushedUpTo = storedId;
                metrics.MessageDelivered();
                Observe(push.PushDialogueAsync(to, ToPush(message, storedId), CancellationToken.None));
            }
        }
    }

    /// <summary>
    /// The member's account is bound to a new socket: it has seen nothing yet, so pushes wait for
    /// its replay (<see cref="Resume"/>); what was queued for the old socket comes again with it.
    /// </summary>
    public void Attach(ClientEndpoint socket)
    {
        Endpoint = socket;
        PushedUpTo = DeliveredUpTo;
        Resuming = true;
        _replayPaused = false;
        _queue.Clear();
    }

    /// <summary>The member's socket <paramref name="socket"/> is gone; false if it had been replaced already.</summary>
    public bool Detach(ClientEndpoint socket)
    {
        if (Endpoint != socket)
        {
            return false;
        }

        Endpoint = null;
        Resuming = false;
        _replayPaused = false;
        _queue.Clear();
        return true;
    }

    /// <summary>The client has messages up to <paramref name="msgId"/>; false if the mark was there already.</summary>
    public bool Delivered(ulong msgId)
    {
        if (msgId <= DeliveredUpTo)
        {
            return false;
        }

        DeliveredUpTo = msgId;
        PushedUpTo = Math.Max(PushedUpTo, msgId); // the client has it: a replay need not send it again
        return true;
    }

    /// <summary>
    /// The replay paused after a full page, and the client now has all of it: the next page goes
    /// (null otherwise). Called after <see cref="Delivered"/> moved the mark.
    /// </summary>
    public Task? ContinueReplay(CancellationToken cancellationToken)
    {
        if (!_replayPaused || DeliveredUpTo < PushedUpTo || Endpoint is not { } socket)
        {
            return null;
        }

        _replayPaused = false;
        return ReplayAsync(socket, cancellationToken);
    }

    /// <summary>Starts the replay to <paramref name="socket"/> if it is the member's and waits for one; null otherwise.</summary>
    public Task? Resume(ClientEndpoint socket, CancellationToken cancellationToken) =>
        Endpoint == socket && Resuming ? ReplayAsync(socket, cancellationToken) : null;

    /// <summary>
    /// The session was rebuilt while the member's socket is open (the node that held it died): pushes
    /// of the last moments may never have left, so the socket gets everything above the delivery
    /// mark before anything live. Null if there is nothing to replay.
    /// </summary>
    public Task? ResumeAfterActivation(ulong lastMsgId, CancellationToken cancellationToken)
    {
        if (Endpoint is not { } socket || lastMsgId <= DeliveredUpTo)
        {
            return null;
        }

        Resuming = true;
        return ReplayAsync(socket, cancellationToken);
    }

    /// <summary>
    /// Pushes, page by page in msgId order, what the socket has not had; then the queue goes on. After
    /// a full page it pauses until the client has that page (<see cref="ContinueReplay"/>).
    /// </summary>
    private async Task ReplayAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        var replayed = 0;
        try
        {
            while (Endpoint == to)
            {
                var missed = await readMissed(sessionId, memberId, PushedUpTo, replayPage, cancellationToken);
                foreach (var message in missed)
                {
                    if (Endpoint != to)
                    {
                        return; // replaced or gone meanwhile
                    }

                    if (message.Id <= PushedUpTo)
                    {
                        continue;
                    }

                    PushedUpTo = message.Id;
                    if (!await push.PushDialogueAsync(to, ToPush(message, message.Id, replay: true), cancellationToken))
                    {
                        return; // the socket is gone
                    }

                    metrics.MessageReplayed();
                    replayed++;
                }

                if (Endpoint != to)
                {
                    return;
                }

                if (missed.Count < replayPage)
                {
                    // Messages committed from now on wait in the queue, which follows at once.
                    Resuming = false;
                    Pump();
                    Log.Resumed(logger, sessionId, memberId, to, replayed);
                    return;
                }

                if (DeliveredUpTo < PushedUpTo)
                {
                    _replayPaused = true; // the next page when the client has this one
                    Log.ReplayPaused(logger, sessionId, memberId, to, replayed);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.ReplayFailed(logger, sessionId, memberId, ex); // the member's next reconnect replays again
        }
    }

    private DialoguePush ToPush(MessageRecord message, ulong msgId, bool replay = false) =>
        new(message.SenderId, message.SessionId, memberId, message.Content, msgId, message.CreatedAtUnixMs, replay);

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
            Log.PushFailed(logger, sessionId, ex);
        }
    }

    /// <summary>
    /// A push waiting its turn: a signal, or a message with its commit. Made only by the two
    /// <c>Of</c>s, so it is always one or the other, whole (the default value is never queued).
    /// </summary>
    private readonly struct Outgoing
    {
        private readonly object _push; // a SignalPush, or a MessageRecord whose commit is _commit
        private readonly Task<WriteOutcome>? _commit;

        private Outgoing(object push, Task<WriteOutcome>? commit)
        {
            _push = push;
            _commit = commit;
        }

        /// <summary>A message whose commit is not done yet: nothing behind it may leave.</summary>
        public bool IsWaiting => _commit is { IsCompleted: false };

        public SignalPush? Signal => _push as SignalPush;

        public static Outgoing Of(SignalPush signal) => new(signal, null);

        public static Outgoing Of(MessageRecord message, Task<WriteOutcome> commit) => new(message, commit);

        /// <summary>The message and the id it is stored under, once its commit is done; false for a signal, a failed commit or a refused message.</summary>
        public bool TryGetStored([NotNullWhen(true)] out MessageRecord? message, out ulong storedId)
        {
            if (_push is MessageRecord stored && _commit is { IsCompletedSuccessfully: true } commit)
            {
                var outcome = commit.Result;
                storedId = outcome.Result switch
                {
                    WriteResult.Stored => stored.Id,
                    WriteResult.AlreadyStored => outcome.MsgId,
                    _ => 0UL,
                };
                message = stored;
                return storedId != 0;
            }

            (message, storedId) = (null, 0);
            return false;
        }
    }

    // Logged with the session grain's logger and event ids, as before this class was its own.
    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "Session {SessionId}: a push failed.")]
        public static partial void PushFailed(ILogger logger, ulong sessionId, Exception exception);

        [LoggerMessage(4, LogLevel.Debug, "Session {SessionId}: account {AccountId} resumed on {Endpoint}; {Replayed} messages replayed.")]
        public static partial void Resumed(ILogger logger, ulong sessionId, ulong accountId, ClientEndpoint endpoint, int replayed);

        [LoggerMessage(5, LogLevel.Warning, "Session {SessionId}: the replay to account {AccountId} failed.")]
        public static partial void ReplayFailed(ILogger logger, ulong sessionId, ulong accountId, Exception exception);

        [LoggerMessage(7, LogLevel.Debug, "Session {SessionId}: the replay to account {AccountId} on {Endpoint} waits for the client to have its page ({Replayed} messages so far).")]
        public static partial void ReplayPaused(ILogger logger, ulong sessionId, ulong accountId, ClientEndpoint endpoint, int replayed);
    }
}
