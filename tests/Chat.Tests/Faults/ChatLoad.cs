using System.Collections.Concurrent;
using System.Diagnostics;
using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Faults;

/// <summary>
/// The load the fault tests put on a cluster while they break it: pairs of visitors, each partner on its own
/// broker, every visitor sending one message after another and retrying each (same requestId) until it is
/// acknowledged, as the web client does. It notes every answer (how long it took, and when) and what was
/// acknowledged, and checks at the end that each partner got exactly that, once each, in order.
/// </summary>
internal sealed class ChatLoad : IAsyncDisposable
{
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<TestClient, List<(ulong MsgId, string Content)>> _acknowledged = new();
    private readonly ConcurrentBag<Answer> _answers = [];
    private readonly ConcurrentDictionary<ulong, ConcurrentBag<ulong>> _delivered = new();
    private readonly ConcurrentDictionary<TestClient, bool> _ended = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private List<Task> _talkers = [];

    private ChatLoad(List<(TestClient A, TestClient B, ulong SessionId)> pairs) => Pairs = pairs;

    /// <summary>One answer to a send: when it was asked (since the load began), how long it took, its code and msg.</summary>
    public readonly record struct Answer(TimeSpan AskedAt, TimeSpan Took, int Code, string? Msg, ulong From = 0);

    public IReadOnlyList<(TestClient A, TestClient B, ulong SessionId)> Pairs { get; }

    public IEnumerable<TestClient> Visitors => Pairs.SelectMany(p => new[] { p.A, p.B });

    /// <summary>Time since the load began, the clock of <see cref="Answer.AskedAt"/>.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary><paramref name="count"/> pairs, A on <paramref name="brokerA"/> and B on <paramref name="brokerB"/>, talking once three messages each are acknowledged.</summary>
    public static async Task<ChatLoad> StartAsync(ChildNode brokerA, ChildNode brokerB, int count)
    {
        var pairs = new List<(TestClient A, TestClient B, ulong SessionId)>();
        var load = new ChatLoad(pairs);
        try
        {
            for (var i = 0; i < count; i++)
            {
                pairs.Add(await Pairing.PairAsync(VisitorAsync(brokerA, $"a{i}"), VisitorAsync(brokerB, $"b{i}")));
            }

            load._talkers = [.. load.Visitors.Select(from => load.TalkAsync(from, pairs.Single(p => p.A == from || p.B == from).SessionId))];
            await load.UntilEachHasAsync(3, "three messages each before the fault");
            return load;
        }
        catch
        {
            await load.DisposeAsync();
            throw;
        }
    }

    public IEnumerable<Answer> Answers => _answers;

    /// <summary>How many messages <paramref name="sender"/> has had acknowledged.</summary>
    public int AcknowledgedOf(TestClient sender) => Snapshot(_acknowledged[sender]).Count;

    /// <summary>Waits until every sender has <paramref name="more"/> more messages acknowledged than now; the time it took.</summary>
    public async Task<TimeSpan> UntilEachHasAsync(int more, string what, TimeSpan? limit = null)
    {
        var started = Now;
        var counts = Visitors.ToDictionary(v => v, v => _acknowledged.TryGetValue(v, out var sent) ? Snapshot(sent).Count : 0);
        await WhileAsync(() => Visitors.All(v => _acknowledged.TryGetValue(v, out var sent) && Snapshot(sent).Count >= counts[v] + more), what, limit ?? Generous);
        return Now - started;
    }

    /// <summary>Waits until every sender has had a message acknowledged after now; the time from <paramref name="since"/> until the last of them.</summary>
    public async Task<TimeSpan> UntilEachAcknowledgedAfterAsync(TimeSpan since, string what, TimeSpan? limit = null)
    {
        var counts = Visitors.ToDictionary(v => v, AcknowledgedOf);
        await WhileAsync(() => Visitors.All(v => AcknowledgedOf(v) > counts[v]), what, limit ?? Generous);
        return Now - since;
    }

    /// <summary>Stops the senders (a sender's failure is thrown).</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_talkers);
    }

    /// <summary>Stops the senders, then checks that each partner received exactly what the other had acknowledged, once each and in order.</summary>
    public async Task StopAndCheckDeliveredAsync()
    {
        await StopAsync();
        foreach (var (a, b, sessionId) in Pairs)
        {
            var delivered = _delivered.GetOrAdd(sessionId, _ => []);
            await ReceivesExactlyAsync(b, Snapshot(_acknowledged[a]), delivered);
            await ReceivesExactlyAsync(a, Snapshot(_acknowledged[b]), delivered);
        }
    }

    /// <summary>
    /// Every msgId of a session seen in the run: those acknowledged to its two senders, and those pushed to its two
    /// receivers (as <see cref="StopAndCheckDeliveredAsync"/> read them). A msgId issued twice comes twice in one of them.
    /// </summary>
    public (IReadOnlyList<ulong> Acknowledged, IReadOnlyList<ulong> Delivered) MsgIdsOf(ulong sessionId)
    {
        var (a, b, _) = Pairs.Single(p => p.SessionId == sessionId);
        return (
            [.. Snapshot(_acknowledged[a]).Concat(Snapshot(_acknowledged[b])).Select(m => m.MsgId)],
            [.. _delivered.TryGetValue(sessionId, out var delivered) ? delivered : []]);
    }

    /// <summary>Whether <paramref name="sender"/> stopped because its session had ended.</summary>
    public bool SawEnd(TestClient sender) => _ended.ContainsKey(sender);

    /// <summary>The messages <paramref name="sender"/> had acknowledged, in order.</summary>
    public IReadOnlyList<(ulong MsgId, string Content)> AcknowledgedBy(TestClient sender) => Snapshot(_acknowledged[sender]);

    /// <summary>
    /// What <paramref name="receiver"/> has had of <paramref name="expected"/> (after a barrier): a beginning of it, in order, once
    /// each, and at most one more (the sender's last message, stored although its answer was lost in the cut, and refused
    /// when tried again because the session had ended); the count of the acknowledged ones. For a session that ended while
    /// the receiver was away: the rest is in the history only.
    /// </summary>
    public static async Task<int> ReceivedBeginningOfAsync(TestClient receiver, IReadOnlyList<(ulong MsgId, string Content)> expected)
    {
        await receiver.BarrierAsync();
        var got = receiver.TakeAll("PUSH_DIALOGUE_REQ").Select(p => (p.ULong("msgId"), p.String("content")!)).ToList();
        Assert.True(got.Count <= expected.Count + 1, $"{got.Count} messages received, {expected.Count} acknowledged");
        var acknowledged = Math.Min(got.Count, expected.Count);
        Assert.Equal(expected.Take(acknowledged), got.Take(acknowledged));
        Assert.Equal(got.Count, got.Select(m => m.Item1).Distinct().Count());
        return acknowledged;
    }

    /// <summary>The acknowledged messages of every sender: how many, and how many msgIds came twice.</summary>
    public (int Acknowledged, int Doubled) Totals()
    {
        var all = _acknowledged.Values.SelectMany(Snapshot).ToList();
        return (all.Count, all.Count - all.Select(m => m.MsgId).Distinct().Count());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            // A sender stops once its message is acknowledged; one refused on and on (a failed test) is left to its closed socket.
            await Task.WhenAll(_talkers).WaitAsync(Generous);
        }
        catch (Exception)
        {
            // a sender's failure was reported by the wait that saw it; the sockets are closed regardless
        }

        foreach (var visitor in Visitors)
        {
            await visitor.DisposeAsync();
        }

        _stop.Dispose();
    }

    private static List<(ulong MsgId, string Content)> Snapshot(List<(ulong MsgId, string Content)> sent)
    {
        lock (sent)
        {
            return [.. sent];
        }
    }

    /// <summary>One message after another, each retried with its requestId until acknowledged, as the web client does.</summary>
    private async Task TalkAsync(TestClient from, ulong sessionId)
    {
        var acknowledged = _acknowledged.GetOrAdd(from, _ => []);
        for (var m = 0; !_stop.IsCancellationRequested; m++)
        {
            var content = $"{from.AccountId}:{m}";
            while (true)
            {
                var asked = Now;
                Frame answer;
                try
                {
                    answer = await from.SayAsync(sessionId, content, $"p{m}");
                }
                catch (TimeoutException ex)
                {
                    throw new TimeoutException($"account {from.AccountId}, p{m} asked at {asked.TotalSeconds:0.0} s: {ex.Message[..Math.Min(200, ex.Message.Length)]}", ex);
                }

                _answers.Add(new Answer(asked, Now - asked, answer.Code(), answer.String("msg"), from.AccountId));
                if (answer.Code() == 0)
                {
                    lock (acknowledged)
                    {
                        acknowledged.Add((answer.ULong("msgId"), content));
                    }

                    break;
                }

                if (answer.Code() == 4)
                {
                    _ended[from] = true; // the session has ended (the partner's grace period ran out): nothing more to say in it
                    return;
                }

                Assert.Equal(2, answer.Code());
                await Task.Delay(200, CancellationToken.None); // the web client backs off too before it tries again
            }

            await Task.Delay(100, CancellationToken.None); // a visitor types; a message every 100 ms or so
        }
    }

    private async Task WhileAsync(Func<bool> done, string what, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!done())
        {
            if (_talkers.FirstOrDefault(t => t.IsFaulted) is { } failed)
            {
                await failed; // a sender's own failure says more than the wait running out
            }

            Assert.True(DateTime.UtcNow < deadline, $"{what}: not within {limit.TotalSeconds:0} s");
            await Task.Delay(100); // the senders' progress, polled: they announce nothing
        }
    }

    private static async Task<TestClient> VisitorAsync(ChildNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }

    private static async Task ReceivesExactlyAsync(TestClient receiver, IReadOnlyList<(ulong MsgId, string Content)> expected, ConcurrentBag<ulong> delivered)
    {
        foreach (var (msgId, content) in expected)
        {
            var push = await receiver.ExpectAsync("PUSH_DIALOGUE_REQ", timeout: Generous);
            delivered.Add(push.ULong("msgId"));
            Assert.Equal((msgId, content), (push.ULong("msgId"), push.String("content")));
        }

        await receiver.BarrierAsync();
        Assert.Empty(receiver.TakeAll("PUSH_DIALOGUE_REQ"));
    }
}
