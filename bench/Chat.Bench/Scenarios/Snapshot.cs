using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

/// <summary>Counters at one instant: the start and the end of the measured window.</summary>
public readonly record struct Snapshot(long Timestamp, long Delivered, ProcessSample? Server, ProcessSample Self, long Allocated)
{
    public static Snapshot Take(IEnumerable<Visitor> visitors, int? serverPid) => new(
        Stopwatch.GetTimestamp(),
        visitors.Sum(v => v.Delivered),
        ProcessSample.TryRead(serverPid),
        ProcessSample.Self(),
        GC.GetTotalAllocatedBytes(precise: false));
}

/// <summary>Server cost over a measured window.</summary>
public sealed record ServerUsage(double CpuSeconds, double CpuMicrosPerMessage, long RssStartBytes, long RssEndBytes)
{
    public static ServerUsage? Between(Snapshot start, Snapshot end, long messages)
    {
        if (start.Server is not { } a || end.Server is not { } b)
        {
            return null;
        }

        var cpu = (b.Cpu - a.Cpu).TotalSeconds;
        return new ServerUsage(Math.Round(cpu, 3), messages == 0 ? 0 : Math.Round(cpu * 1e6 / messages, 2), a.RssBytes, b.RssBytes);
    }
}
