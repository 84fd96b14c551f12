using System.Diagnostics;
using HdrHistogram;

namespace Chat.Bench.Measuring;

/// <summary>
/// Latencies from monotonic <see cref="Stopwatch"/> timestamps into one HdrHistogram that many
/// receive loops record into at once (microsecond resolution, up to 10 minutes, 3 digits).
/// </summary>
public sealed class LatencyRecorder
{
    private const long HighestMicros = 10L * 60 * 1_000_000;
    private const int TimelineSeconds = 3600;
    private readonly LongConcurrentHistogram histogram = new(1, HighestMicros, 3);
    private readonly long origin = Stopwatch.GetTimestamp();
    private readonly long[] maxBySecond = new long[TimelineSeconds];
    private readonly long[] countBySecond = new long[TimelineSeconds];
    private volatile bool closed;

    public void Record(long fromTimestamp, long toTimestamp)
    {
        if (closed)
        {
            return;
        }

        var micros = Math.Clamp((toTimestamp - fromTimestamp) * 1_000_000 / Stopwatch.Frequency, 1, HighestMicros);
        histogram.RecordValue(micros);

        // By the second the sample was planned in, so a stall shows where it began.
        var second = (fromTimestamp - origin) / Stopwatch.Frequency;
        if (second is >= 0 and < TimelineSeconds)
        {
            Interlocked.Increment(ref countBySecond[second]);
            var max = Volatile.Read(ref maxBySecond[second]);
            while (micros > max)
            {
                var seen = Interlocked.CompareExchange(ref maxBySecond[second], micros, max);
                if (seen == max)
                {
                    break;
                }

                max = seen;
            }
        }
    }

    /// <summary>The worst latency of the samples planned in each second that has any, in milliseconds.</summary>
    public double[] MaxBySecond()
    {
        var first = Array.FindIndex(countBySecond, c => c > 0);
        var last = Array.FindLastIndex(countBySecond, c => c > 0);
        return first < 0 ? [] : [.. maxBySecond[first..(last + 1)].Select(m => Math.Round(m / 1000.0, 1))];
    }

    /// <summary>Stops recording (stragglers may still arrive) and summarizes a copy.</summary>
    public LatencySummary Summarize()
    {
        closed = true;
        for (var attempt = 0; ; attempt++)
        {
            // A receive loop that passed the closed check a moment ago may still be recording.
            Thread.Sleep(50);
            try
            {
                return Summarize(histogram.Copy());
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // The copy was taken mid-record (its total and counts disagree): take another.
            }
        }
    }

    private static LatencySummary Summarize(HistogramBase histogram)
    {
        if (histogram.TotalCount == 0)
        {
            return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
        }

        static double Ms(long micros) => Math.Round(micros / 1000.0, 3);
        return new LatencySummary(
            histogram.TotalCount,
            Ms(histogram.GetValueAtPercentile(50)),
            Ms(histogram.GetValueAtPercentile(90)),
            Ms(histogram.GetValueAtPercentile(99)),
            Ms(histogram.GetValueAtPercentile(99.9)),
            Ms(histogram.GetMaxValue()),
            Math.Round(histogram.GetMean() / 1000.0, 3));
    }
}

/// <summary>Latency percentiles in milliseconds.</summary>
public sealed record LatencySummary(long Count, double P50, double P90, double P99, double P999, double Max, double Mean)
{
    public override string ToString() =>
        Count == 0 ? "no samples" : $"p50 {P50:0.###} p90 {P90:0.###} p99 {P99:0.###} p99.9 {P999:0.###} max {Max:0.###} ms (n={Count})";
}
