using System.Diagnostics.Metrics;
using Chat.Logic.Diagnostics;
using Chat.Logic.Sessions;
using Chat.Logic.Storage;
using Chat.Protocol.Seams;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Chat.Tests.Delivery;

/// <summary>
/// One member's outbox, without a silo: what reaches the member's socket, in what order, and when.
/// The push channel records what it is given; the store is a list of committed messages.
/// </summary>
public sealed class MemberOutboxTests : IDisposable
{
    private const ulong SessionId = 7;
    private const ulong Sender = 1;
    private const ulong Receiver = 2;
    private const int ReplayPage = 100;
    private static readonly ClientEndpoint OldSocket = new("broker", 10);
    private static readonly ClientEndpoint NewSocket = new("broker", 11);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly RecordingChannel _channel = new();
    private readonly StoredMessages _store = new();

    public void Dispose() => _services.Dispose();

    [Fact]
    public void A_signal_never_overtakes_a_message_waiting_for_its_commit()
    {
        var outbox = Outbox(OldSocket);
        var first = new TaskCompletionSource<WriteOutcome>();
        var second = new TaskCompletionSource<WriteOutcome>();
        outbox.Enqueue(Message(1), first.Task);
        outbox.Enqueue(Message(2), second.Task);
        outbox.Enqueue(Signal(SignalKind.PartnerExit));
        Assert.Empty(_channel.To(OldSocket));

        // The later message commits first: it still waits behind the earlier one, and so does the exit.
        second.SetResult(WriteOutcome.Stored);
        outbox.Pump();
        Assert.Empty(_channel.To(OldSocket));

        first.SetResult(WriteOutcome.Stored);
        outbox.Pump();
        Assert.Equal(["msg 1", "msg 2", "PartnerExit"], _channel.To(OldSocket));
    }

    [Fact]
    public void A_message_that_was_not_stored_is_never_pushed_and_holds_up_nothing_behind_it()
    {
        var outbox = Outbox(OldSocket);
        outbox.Enqueue(Message(1), Task.FromResult(WriteOutcome.RefusedFor("not above the last")));
        outbox.Enqueue(Message(2), Task.FromException<WriteOutcome>(new InvalidOperationException("the store went away")));
        outbox.Enqueue(Message(3), Task.FromResult(WriteOutcome.Stored));
        outbox.Enqueue(Signal(SignalKind.Typing));

        Assert.Equal(["msg 3", "Typing"], _channel.To(OldSocket));
    }

    [Fact]
    public void A_message_stored_by_an_earlier_attempt_is_pushed_once_under_its_stored_id()
    {
        var outbox = Outbox(OldSocket);

        // The first attempt committed as message 5 though its sender never heard: the retry, given
        // id 8, is that message, and the socket gets it under 5; a second retry brings nothing new.
        outbox.Enqueue(Message(8, content: "hello"), Task.FromResult(WriteOutcome.AlreadyStoredAs(5)));
        outbox.Enqueue(Message(9, content: "hello"), Task.FromResult(WriteOutcome.AlreadyStoredAs(5)));
        outbox.Pump();

        var pushed = Assert.Single(_channel.Dialogues(OldSocket));
        Assert.Equal((5UL, "hello", Receiver), (pushed.MsgId, pushed.Content, pushed.ReceiverId));
    }

    [Fact]
    public async Task Nothing_reaches_a_new_socket_until_its_replay_has_run()
    {
        var outbox = Outbox(OldSocket);
        outbox.Attach(NewSocket);
        outbox.Enqueue(Signal(SignalKind.Typing));
        outbox.Enqueue(Message(1), Task.FromResult(WriteOutcome.Stored));
        outbox.Pump();
        Assert.Empty(_channel.To(NewSocket));
        Assert.Null(outbox.Resume(OldSocket, CancellationToken.None)); // the old socket is nobody's now

        // Message 1 is in the store by now: the replay brings it, the queue follows without it.
        _store.Add(Message(1));
        await outbox.Resume(NewSocket, CancellationToken.None)!.WaitAsync(TestClient.Timeout);

        Assert.Equal(["replay 1", "Typing"], _channel.To(NewSocket));
        Assert.Empty(_channel.To(OldSocket));
        Assert.False(outbox.Resuming);
    }

    [Fact]
    public async Task A_replay_sends_a_page_at_a_time_each_once_the_client_has_the_last_in_msgId_order_then_goes_live()
    {
        for (ulong id = 250; id >= 1; id--)
        {
            _store.Add(Message(id));
        }

        var outbox = Outbox(OldSocket);
        outbox.Attach(NewSocket);
        var firstPage = _store.HoldNextRead();
        var replay = outbox.Resume(NewSocket, CancellationToken.None)!;

        // While the first page is read, message 251 commits and a typing signal comes: both wait.
        _store.Add(Message(251));
        outbox.Enqueue(Message(251), Task.FromResult(WriteOutcome.Stored));
        outbox.Enqueue(Signal(SignalKind.Typing));
        outbox.Pump();
        Assert.Empty(_channel.To(NewSocket));

        // One page, then nothing until the client has it: a client that never confirms gets no more.
        firstPage.SetResult();
        await replay.WaitAsync(TestClient.Timeout);
        Assert.Equal([.. Enumerable.Range(1, 100).Select(id => $"replay {id}")], _channel.To(NewSocket));
        Assert.True(outbox.Resuming);
        Assert.True(outbox.Delivered(99));
        Assert.Null(outbox.ContinueReplay(CancellationToken.None)); // not all of the page yet

        Assert.True(outbox.Delivered(100));
        await outbox.ContinueReplay(CancellationToken.None)!.WaitAsync(TestClient.Timeout);
        Assert.True(outbox.Delivered(200));
        await outbox.ContinueReplay(CancellationToken.None)!.WaitAsync(TestClient.Timeout);

        // Pages from the socket's mark; 251 comes once (with the replay), then the queue.
        Assert.Equal([0UL, 100, 200], _store.ReadsAfter);
        Assert.Equal([.. Enumerable.Range(1, 251).Select(id => $"replay {id}"), "Typing"], _channel.To(NewSocket));
        Assert.False(outbox.Resuming);
        Assert.Null(outbox.ContinueReplay(CancellationToken.None));

        outbox.Enqueue(Message(252), Task.FromResult(WriteOutcome.Stored));
        outbox.Pump();
        Assert.Equal("msg 252", _channel.To(NewSocket)[^1]);
    }

    [Fact]
    public async Task A_paused_replay_stops_for_good_when_the_socket_goes()
    {
        for (ulong id = 1; id <= 150; id++)
        {
            _store.Add(Message(id));
        }

        var outbox = Outbox(OldSocket);
        outbox.Attach(NewSocket);
        await outbox.Resume(NewSocket, CancellationToken.None)!.WaitAsync(TestClient.Timeout);
        Assert.Equal(100, _channel.To(NewSocket).Count);

        Assert.True(outbox.Detach(NewSocket));
        Assert.True(outbox.Delivered(100));
        Assert.Null(outbox.ContinueReplay(CancellationToken.None));
        Assert.Equal(100, _channel.To(NewSocket).Count);
    }

    [Fact]
    public async Task A_delivery_mark_spares_the_replay_what_the_client_already_has()
    {
        for (ulong id = 1; id <= 4; id++)
        {
            _store.Add(Message(id));
        }

        var outbox = Outbox(OldSocket, deliveredUpTo: 1);
        Assert.True(outbox.Delivered(3));
        Assert.False(outbox.Delivered(2)); // a mark only rises

        outbox.Attach(NewSocket);
        await outbox.Resume(NewSocket, CancellationToken.None)!.WaitAsync(TestClient.Timeout);

        Assert.Equal(["replay 4"], _channel.To(NewSocket));
        Assert.Equal([3UL], _store.ReadsAfter);
    }

    [Fact]
    public async Task Away_clears_the_queue_and_what_was_in_it_comes_with_the_next_sockets_replay()
    {
        var outbox = Outbox(OldSocket);
        var commit = new TaskCompletionSource<WriteOutcome>();
        outbox.Enqueue(Message(1), commit.Task);
        outbox.Enqueue(Signal(SignalKind.ViewedAck));

        Assert.True(outbox.Detach(OldSocket));
        Assert.False(outbox.Detach(OldSocket)); // told twice: the second time it is not the member's socket
        commit.SetResult(WriteOutcome.Stored);
        _store.Add(Message(1));
        outbox.Pump();
        outbox.Enqueue(Signal(SignalKind.Typing)); // a moment that passes while nobody is there
        Assert.Empty(_channel.To(OldSocket));
        Assert.Null(outbox.Endpoint);

        outbox.Attach(NewSocket);
        await outbox.Resume(NewSocket, CancellationToken.None)!.WaitAsync(TestClient.Timeout);
        Assert.Equal(["replay 1"], _channel.To(NewSocket));
    }

    [Fact]
    public async Task A_socket_replaced_during_its_replay_gets_no_more_of_it()
    {
        for (ulong id = 1; id <= 3; id++)
        {
            _store.Add(Message(id));
        }

        // The old socket is slow to take its first replayed message.
        var oldTakes = new TaskCompletionSource<bool>();
        _channel.Dialogue = (to, _) => to == OldSocket ? new ValueTask<bool>(oldTakes.Task) : ValueTask.FromResult(true);
        var outbox = Outbox(socket: null);
        outbox.Attach(OldSocket);
        var oldReplay = outbox.Resume(OldSocket, CancellationToken.None)!;
        Assert.Equal(["replay 1"], _channel.To(OldSocket));

        // Meanwhile the member reconnects on a new socket, whose replay starts from scratch; the old
        // socket then takes its message and hears nothing more.
        outbox.Attach(NewSocket);
        var newRead = _store.HoldNextRead();
        var newReplay = outbox.Resume(NewSocket, CancellationToken.None)!;
        oldTakes.SetResult(true);
        await oldReplay.WaitAsync(TestClient.Timeout);
        Assert.Equal(["replay 1"], _channel.To(OldSocket));

        newRead.SetResult();
        await newReplay.WaitAsync(TestClient.Timeout);
        Assert.Equal(["replay 1", "replay 2", "replay 3"], _channel.To(NewSocket));
        Assert.Equal(["replay 1"], _channel.To(OldSocket));
    }

    [Fact]
    public async Task A_session_rebuilt_while_the_socket_is_open_replays_above_the_delivery_mark_first()
    {
        for (ulong id = 1; id <= 3; id++)
        {
            _store.Add(Message(id));
        }

        Assert.Null(Outbox(OldSocket, deliveredUpTo: 3).ResumeAfterActivation(lastMsgId: 3, CancellationToken.None)); // nothing it has not had
        Assert.Null(Outbox(socket: null).ResumeAfterActivation(lastMsgId: 3, CancellationToken.None)); // nobody to send to

        var outbox = Outbox(OldSocket, deliveredUpTo: 1);
        var read = _store.HoldNextRead();
        var replay = outbox.ResumeAfterActivation(lastMsgId: 3, CancellationToken.None)!;
        outbox.Enqueue(Signal(SignalKind.Typing));
        Assert.Empty(_channel.To(OldSocket));

        read.SetResult();
        await replay.WaitAsync(TestClient.Timeout);
        Assert.Equal(["replay 2", "replay 3", "Typing"], _channel.To(OldSocket));
    }

    private MemberOutbox Outbox(ClientEndpoint? socket, ulong deliveredUpTo = 0) =>
        new(SessionId, Receiver, socket, deliveredUpTo, ReplayPage, _channel, _store.ReadAsync, new LogicMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger.Instance);

    private static MessageRecord Message(ulong id, string? content = null) => new(id, SessionId, Sender, $"r{id}", content ?? $"m{id}", 1_000 + (long)id);

    private static SignalPush Signal(SignalKind kind) => new(kind, Sender, Receiver, SessionId, Sender);

    /// <summary>An <see cref="IPushChannel"/> that records every push; dialogue pushes are taken at once unless told otherwise.</summary>
    private sealed class RecordingChannel : IPushChannel
    {
        private readonly List<(ClientEndpoint To, string What, DialoguePush? Dialogue)> _pushed = [];

        public Func<ClientEndpoint, DialoguePush, ValueTask<bool>> Dialogue { get; set; } = (_, _) => ValueTask.FromResult(true);

        public IReadOnlyList<string> To(ClientEndpoint to)
        {
            lock (_pushed)
            {
                return [.. _pushed.Where(p => p.To == to).Select(p => p.What)];
            }
        }

        public IReadOnlyList<DialoguePush> Dialogues(ClientEndpoint to)
        {
            lock (_pushed)
            {
                return [.. _pushed.Where(p => p.To == to && p.Dialogue is not null).Select(p => p.Dialogue!)];
            }
        }

        public ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken)
        {
            lock (_pushed)
            {
                _pushed.Add((to, $"{(push.Replay ? "replay" : "msg")} {push.MsgId}", push));
            }

            return Dialogue(to, push);
        }

        public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken)
        {
            lock (_pushed)
            {
                _pushed.Add((to, push.Kind.ToString(), null));
            }

            return ValueTask.FromResult(true);
        }

        public ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    /// <summary>The session's committed messages, as a replay reads them; a read can be held until the test lets it go.</summary>
    private sealed class StoredMessages
    {
        private readonly List<MessageRecord> _messages = [];
        private TaskCompletionSource? _hold;

        public List<ulong> ReadsAfter { get; } = [];

        public void Add(MessageRecord message)
        {
            lock (_messages)
            {
                _messages.Add(message);
            }
        }

        /// <summary>The next read waits until the returned source is set, then reads what is stored by then.</summary>
        public TaskCompletionSource HoldNextRead() => _hold = new TaskCompletionSource();

        public async Task<IReadOnlyList<MessageRecord>> ReadAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken)
        {
            Assert.Equal((SessionId, Receiver), (sessionId, receiverId));
            ReadsAfter.Add(afterMsgId);
            if (Interlocked.Exchange(ref _hold, null) is { } hold)
            {
                await hold.Task.WaitAsync(cancellationToken);
            }

            lock (_messages)
            {
                return [.. _messages.Where(m => m.Id > afterMsgId).OrderBy(m => m.Id).Take(limit)];
            }
        }
    }
}
