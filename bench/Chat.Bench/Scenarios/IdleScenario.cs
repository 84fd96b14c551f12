using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

public sealed record IdleOptions
{
    public required Uri Server { get; init; }
    public int Connections { get; init; } = 1000;
    public TimeSpan Hold { get; init; } = TimeSpan.FromSeconds(10);
    public int SourceAddresses { get; init; } = 4;
    public int ConnectConcurrency { get; init; } = 64;
    /// <summary>The server's processes (several for a cluster), measured together.</summary>
    public IReadOnlyList<int>? ServerPids { get; init; }
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Written (the setup's seconds) once every visitor has its account, so a script can start more load on top of the idle crowd.</summary>
    public string? ReadyFile { get; init; }
    /// <summary>The hold ends early once this file exists (the script's load on top is done).</summary>
    public string? UntilFile { get; init; }
}

public sealed record IdleResult
{
    public string Scenario { get; init; } = "idle";
    public int Connections { get; init; }
    public double SetupSeconds { get; init; }
    public double HeldSeconds { get; init; }
    public int OpenAtEnd { get; init; }
    public long ServerRssBeforeBytes { get; init; }
    public long ServerRssAfterBytes { get; init; }
    public double ServerBytesPerConnection { get; init; }
    public double ServerCpuSecondsWhileHeld { get; init; }
    public long BenchRssBytes { get; init; }
}

/// <summary>N visitors connect, each creates an account, and they sit there for a while.</summary>
public static class IdleScenario
{
    public static async Task<IdleResult> RunAsync(IdleOptions options, CancellationToken cancellationToken)
    {
        var traffic = new Traffic();
        var connector = new VisitorConnector(options.Server, options.SourceAddresses);
        // Idle sockets only ever get small frames (replies, pings).
        await using var crowd = new Crowd(connector, traffic, options.Connections, receiveBufferBytes: 512);

        var before = ProcessSample.TryRead(options.ServerPids);
        var setupStart = Stopwatch.GetTimestamp();
        await crowd.ArriveAsync(options.ConnectConcurrency, options.ReplyTimeout, cancellationToken);
        var setup = Stopwatch.GetElapsedTime(setupStart);
        if (options.ReadyFile is { } ready)
        {
            await File.WriteAllTextAsync(ready, $"{setup.TotalSeconds:0.000}\n", cancellationToken);
        }

        var held = ProcessSample.TryRead(options.ServerPids);
        var holdStart = Stopwatch.GetTimestamp();
        await HoldAsync(options, cancellationToken);
        var heldFor = Stopwatch.GetElapsedTime(holdStart);
        var after = ProcessSample.TryRead(options.ServerPids);

        return new IdleResult
        {
            Connections = options.Connections,
            SetupSeconds = Math.Round(setup.TotalSeconds, 3),
            HeldSeconds = Math.Round(heldFor.TotalSeconds, 1),
            OpenAtEnd = crowd.Visitors.Count(v => v.Online),
            ServerRssBeforeBytes = before?.RssBytes ?? 0,
            ServerRssAfterBytes = after?.RssBytes ?? 0,
            ServerBytesPerConnection = before is { } b && after is { } a ? Math.Round((double)(a.RssBytes - b.RssBytes) / options.Connections) : 0,
            ServerCpuSecondsWhileHeld = held is { } h && after is { } e ? Math.Round((e.Cpu - h.Cpu).TotalSeconds, 3) : 0,
            BenchRssBytes = ProcessSample.Self().RssBytes,
        };
    }

    private static async Task HoldAsync(IdleOptions options, CancellationToken cancellationToken)
    {
        if (options.UntilFile is not { } until)
        {
            await Task.Delay(options.Hold, cancellationToken);
            return;
        }

        // A file another process writes: looked for once a second (a run of minutes; no watcher needed).
        var end = Stopwatch.GetTimestamp() + (long)(options.Hold.TotalSeconds * Stopwatch.Frequency);
        while (!File.Exists(until) && Stopwatch.GetTimestamp() < end)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }
}
