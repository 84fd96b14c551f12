using System.Diagnostics;

namespace Chat.Bench.Measuring;

/// <summary>CPU time and resident memory of a process, read from /proc (Linux).</summary>
public readonly record struct ProcessSample(TimeSpan Cpu, long RssBytes, long Timestamp)
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux build we target.
    private const double TicksPerSecond = 100;

    /// <summary>Several processes as one (the nodes of a cluster): CPU and memory summed over those still there.</summary>
    public static ProcessSample? TryRead(IReadOnlyList<int>? pids)
    {
        if (pids is null || pids.Count == 0)
        {
            return null;
        }

        ProcessSample? sum = null;
        foreach (var pid in pids)
        {
            if (TryRead(pid) is { } one)
            {
                sum = sum is { } s ? new ProcessSample(s.Cpu + one.Cpu, s.RssBytes + one.RssBytes, one.Timestamp) : one;
            }
        }

        return sum;
    }

    public static ProcessSample? TryRead(int? pid)
    {
        if (pid is not { } id)
        {
            return null;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{id}/stat");
            // The command name (field 2) may contain spaces; fields after it start past the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11]) + long.Parse(fields[12]);
            long rssKb = 0;
            foreach (var line in File.ReadLines($"/proc/{id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rssKb = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim());
                    break;
                }
            }

            return new ProcessSample(TimeSpan.FromSeconds(ticks / TicksPerSecond), rssKb * 1024, Stopwatch.GetTimestamp());
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>This process, through the runtime (finer than /proc's 10 ms ticks).</summary>
    public static ProcessSample Self()
    {
        using var self = Process.GetCurrentProcess();
        return new ProcessSample(self.TotalProcessorTime, self.WorkingSet64, Stopwatch.GetTimestamp());
    }
}
