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

        var held = ProcessSample.TryRead(options.ServerPids);
        await Task.Delay(options.Hold, cancellationToken);
        var after = ProcessSample.TryRead(options.ServerPids);

        return new IdleResult
        {
            Connections = options.Connections,
            SetupSeconds = Math.Round(setup.TotalSeconds, 3),
            HeldSeconds = options.Hold.TotalSeconds,
            OpenAtEnd = crowd.Visitors.Count(v => v.Online),
            ServerRssBeforeBytes = before?.RssBytes ?? 0,
            ServerRssAfterBytes = after?.RssBytes ?? 0,
            ServerBytesPerConnection = before is { } b && after is { } a ? Math.Round((double)(a.RssBytes - b.RssBytes) / options.Connections) : 0,
            ServerCpuSecondsWhileHeld = held is { } h && after is { } e ? Math.Round((e.Cpu - h.Cpu).TotalSeconds, 3) : 0,
            BenchRssBytes = ProcessSample.Self().RssBytes,
        };
    }
}
