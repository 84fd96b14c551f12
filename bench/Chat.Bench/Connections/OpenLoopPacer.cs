using System.Diagnostics;

namespace Chat.Bench.Connections;

/// <summary>
/// Sends for many visitors at a fixed rate each, from one 1 ms tick per core (not a timer per
/// visitor). Each message is stamped with the time it was planned for, not the time it left, so a
/// server that falls behind shows up in the latency (no coordinated omission).
/// </summary>
public static class OpenLoopPacer
{
    public static Task RunAsync(IReadOnlyList<Visitor> visitors, double perSecond, long startAt, Traffic traffic, CancellationToken cancellationToken)
    {
        var lanes = Math.Max(1, Math.Min(Environment.ProcessorCount, visitors.Count));
        return Task.WhenAll(Enumerable.Range(0, lanes).Select(lane =>
            Task.Run(() => RunLaneAsync([.. visitors.Where((_, i) => i % lanes == lane)], perSecond, startAt, traffic, cancellationToken), cancellationToken)));
    }

    private static async Task RunLaneAsync(Visitor[] visitors, double perSecond, long startAt, Traffic traffic, CancellationToken cancellationToken)
    {
        var period = (long)(Stopwatch.Frequency / perSecond);
        // Spread the visitors over one period so they do not all send on the same tick.
        var due = visitors.Select(v => startAt + period * (v.Index * 7919L % 1000) / 1000).ToArray();
        var sending = new Task?[visitors.Length];
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        try
        {
            while (!traffic.StopSending && await timer.WaitForNextTickAsync(cancellationToken))
            {
                var now = Stopwatch.GetTimestamp();
                var done = true;
                for (var i = 0; i < visitors.Length; i++)
                {
                    var visitor = visitors[i];
                    if (traffic.MessageLimit != 0 && visitor.Sent >= traffic.MessageLimit)
                    {
                        continue;
                    }

                    done = false;
                    if (due[i] > now || sending[i] is { IsCompleted: false })
                    {
                        continue;
                    }

                    if (visitor.Online)
                    {
                        var send = visitor.SendMessageAsync(due[i], cancellationToken);
                        sending[i] = send.IsCompletedSuccessfully ? null : send.AsTask();
                    }

                    due[i] += period;
                }

                if (done)
                {
                    break;
                }
            }

            await Task.WhenAll(sending.OfType<Task>());
        }
        catch (OperationCanceledException)
        {
        }
    }
}
