using System.Diagnostics;

namespace Chat.Bench.Connections;

/// <summary>
/// Sends for many visitors on a schedule (a fixed rate, or a person's pace), from one 1 ms tick
/// per core (not a timer per visitor); each lane keeps its visitors' next events in a priority
/// queue, so a tick costs what is due in it, not a pass over every visitor. Each message is
/// stamped with the time it was planned for, not the time it left, so a server that falls behind
/// shows up in the latency (no coordinated omission). With a typing lead, each message is preceded
/// by a TYPING_REQ that much earlier (never before the visitor's previous message), as a person's
/// page sends one when they start typing.
/// </summary>
public static class OpenLoopPacer
{
    public static Task RunAsync(IReadOnlyList<Visitor> visitors, double perSecond, long startAt, Traffic traffic, CancellationToken cancellationToken) =>
        RunAsync(visitors, new FixedRateSchedule(perSecond), TimeSpan.Zero, startAt, traffic, cancellationToken);

    public static Task RunAsync(IReadOnlyList<Visitor> visitors, SendSchedule schedule, TimeSpan typingLead, long startAt, Traffic traffic, CancellationToken cancellationToken)
    {
        var lanes = Math.Max(1, Math.Min(Environment.ProcessorCount, visitors.Count));
        var lead = (long)(typingLead.TotalSeconds * Stopwatch.Frequency);
        return Task.WhenAll(Enumerable.Range(0, lanes).Select(lane =>
            Task.Run(() => RunLaneAsync([.. visitors.Where((_, i) => i % lanes == lane)], schedule.ForLane(lane), lead, startAt, traffic, cancellationToken), cancellationToken)));
    }

    private static async Task RunLaneAsync(Visitor[] visitors, SendSchedule schedule, long typingLead, long startAt, Traffic traffic, CancellationToken cancellationToken)
    {
        // Per visitor: the message due next, and when its typing signal goes (0: sent, or none).
        var due = new long[visitors.Length];
        var typingAt = new long[visitors.Length];
        var events = new PriorityQueue<int, long>(visitors.Length);
        for (var i = 0; i < visitors.Length; i++)
        {
            due[i] = schedule.First(visitors[i].Index, startAt);
            typingAt[i] = typingLead > 0 ? Math.Max(startAt, due[i] - typingLead) : 0;
            events.Enqueue(i, typingAt[i] != 0 ? typingAt[i] : due[i]);
        }

        var sending = new Task?[visitors.Length];
        var later = new List<(int Visitor, long At)>();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        try
        {
            while (!traffic.StopSending && events.Count > 0 && await timer.WaitForNextTickAsync(cancellationToken))
            {
                var now = Stopwatch.GetTimestamp();
                while (events.TryPeek(out var i, out var at) && at <= now)
                {
                    events.Dequeue();
                    var visitor = visitors[i];
                    if (traffic.MessageLimit != 0 && visitor.Sent >= traffic.MessageLimit)
                    {
                        continue; // done: not queued again
                    }

                    if (sending[i] is { IsCompleted: false })
                    {
                        later.Add((i, now)); // its previous send is still going: next tick
                        continue;
                    }

                    if (typingAt[i] != 0)
                    {
                        typingAt[i] = 0;
                        if (visitor.Online)
                        {
                            var typing = visitor.SendTypingAsync(cancellationToken);
                            sending[i] = typing.IsCompletedSuccessfully ? null : typing.AsTask();
                        }

                        if (due[i] > now || sending[i] is not null)
                        {
                            later.Add((i, due[i]));
                            continue;
                        }
                    }

                    if (visitor.Online)
                    {
                        var send = visitor.SendMessageAsync(due[i], cancellationToken);
                        sending[i] = send.IsCompletedSuccessfully ? null : send.AsTask();
                    }

                    if (traffic.MessageLimit != 0 && visitor.Sent >= traffic.MessageLimit)
                    {
                        continue;
                    }

                    due[i] = schedule.Next(due[i]);
                    typingAt[i] = typingLead > 0 ? Math.Max(now, due[i] - typingLead) : 0;
                    later.Add((i, typingAt[i] != 0 ? typingAt[i] : due[i]));
                }

                foreach (var (i, at) in later)
                {
                    events.Enqueue(i, at);
                }

                later.Clear();
            }

            await Task.WhenAll(sending.OfType<Task>());
        }
        catch (OperationCanceledException)
        {
        }
    }
}
