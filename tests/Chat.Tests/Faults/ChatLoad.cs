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
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private List<Task> _talkers = [];

    private ChatLoad(List<(TestClient A, TestClient B, ulong SessionId)> pairs) => Pairs = pairs;

    /// <summary>One answer to a send: when it was asked (since the load began), how long it took, its code and msg.</summary>
    public readonly record struct Answer(TimeSpan AskedAt, TimeSpan Took, int Code, string? Msg);

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
        foreach (var (a, b, _) in Pairs)
        {
            await ReceivesExactlyAsync(b, Snapshot(_acknowledged[a]));
            await ReceivesExactlyAsync(a, Snapshot(_acknowledged[b]));
        }
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
            await Task.WhenAll(_talkers);
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
                var answer = await from.SayAsync(sessionId, content, $"p{m}");
                _answers.Add(new Answer(asked, Now - asked, answer.Code(), answer.String("msg")));
                if (answer.Code() == 0)
                {
                    lock (acknowledged)
                    {
                        acknowledged.Add((answer.ULong("msgId"), content));
                    }

                    break;
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

    private static async Task ReceivesExactlyAsync(TestClient receiver, IReadOnlyList<(ulong MsgId, string Content)> expected)
    {
        foreach (var (msgId, content) in expected)
        {
            var push = await receiver.ExpectAsync("PUSH_DIALOGUE_REQ", timeout: Generous);
            Assert.Equal((msgId, content), (push.ULong("msgId"), push.String("content")));
        }

        await receiver.BarrierAsync();
        Assert.Empty(receiver.TakeAll("PUSH_DIALOGUE_REQ"));
    }
}
