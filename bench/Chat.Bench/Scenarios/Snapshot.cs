using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

/// <summary>Counters at one instant: the start and the end of the measured window.</summary>
/// <param name="Store">The server's database process (mariadbd), when it has one of its own.</param>
public readonly record struct Snapshot(long Timestamp, long Delivered, ProcessSample? Server, ProcessSample Self, long Allocated, ProcessSample? Store = null)
{
    public static Snapshot Take(IEnumerable<Visitor> visitors, IReadOnlyList<int>? serverPids, int? storePid = null) => new(
        Stopwatch.GetTimestamp(),
        visitors.Sum(v => v.Delivered),
        ProcessSample.TryRead(serverPids),
        ProcessSample.Self(),
        GC.GetTotalAllocatedBytes(precise: false),
        ProcessSample.TryRead(storePid));
}

/// <summary>Server cost over a measured window.</summary>
public sealed record ServerUsage(double CpuSeconds, double CpuMicrosPerMessage, long RssStartBytes, long RssEndBytes)
{
    public static ServerUsage? Between(Snapshot start, Snapshot end, long messages) => Between(start.Server, end.Server, messages);

    public static ServerUsage? Between(ProcessSample? start, ProcessSample? end, long messages)
    {
        if (start is not { } a || end is not { } b)
        {
            return null;
        }

        var cpu = (b.Cpu - a.Cpu).TotalSeconds;
        return new ServerUsage(Math.Round(cpu, 3), messages == 0 ? 0 : Math.Round(cpu * 1e6 / messages, 2), a.RssBytes, b.RssBytes);
    }
}
