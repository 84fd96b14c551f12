using System.Diagnostics;

namespace Chat.Bench.Connections;

/// <summary>
/// When each visitor's messages are due, in <see cref="Stopwatch"/> ticks. The open-loop pacer
/// asks it for a visitor's first message and then for the one after each. One instance serves one
/// pacer lane (one thread): <see cref="ForLane"/> gives each lane its own.
/// </summary>
public abstract class SendSchedule
{
    public abstract long First(int visitorIndex, long startAt);

    public abstract long Next(long due);

    public virtual SendSchedule ForLane(int lane) => this;
}

/// <summary>A fixed rate per visitor, the visitors' first messages spread over one period so they do not all send on the same tick.</summary>
public sealed class FixedRateSchedule(double perSecond) : SendSchedule
{
    private readonly long period = (long)(Stopwatch.Frequency / perSecond);

    public override long First(int visitorIndex, long startAt) => startAt + period * (visitorIndex * 7919L % 1000) / 1000;

    public override long Next(long due) => due + period;
}

/// <summary>
/// People typing: each visitor's messages form a Poisson process, the gaps between them drawn
/// from an exponential distribution with the given mean (so a visitor sometimes sends two in a
/// second and sometimes waits half a minute, as people do). Seeded, so a run can be repeated.
/// </summary>
public sealed class PoissonSchedule(TimeSpan meanInterval, int seed) : SendSchedule
{
    private readonly Random random = new(seed);
    private readonly double meanTicks = meanInterval.TotalSeconds * Stopwatch.Frequency;

    public TimeSpan MeanInterval => meanInterval;

    /// <summary>The next gap, in <see cref="Stopwatch"/> ticks (at least one).</summary>
    public long NextGap() => Math.Max(1, (long)(-meanTicks * Math.Log(1 - random.NextDouble())));

    // A Poisson process has no memory: the first message is one gap after the start.
    public override long First(int visitorIndex, long startAt) => startAt + NextGap();

    public override long Next(long due) => due + NextGap();

    // Each lane its own generator (Random is not thread-safe), derived from the run's seed.
    public override SendSchedule ForLane(int lane) => new PoissonSchedule(meanInterval, unchecked((seed * 1_000_003) + lane));
}
