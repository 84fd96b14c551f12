namespace Chat.Bench.Scenarios;

public sealed record CrowdOptions
{
    public required Uri Server { get; init; }

    /// <summary>Further servers (a cluster's other brokers): visitors connect to each in turn.</summary>
    public IReadOnlyList<Uri> MoreServers { get; init; } = [];

    /// <summary>Visitors, in pairs (an odd one is left out).</summary>
    public int Visitors { get; init; } = 200;

    /// <summary>The mean gap between one visitor's messages.</summary>
    public TimeSpan MeanInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long before each message its TYPING_REQ goes.</summary>
    public TimeSpan TypingLead { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(10);
    public int ContentBytes { get; init; } = 64;
    public int SourceAddresses { get; init; } = 200;
    public int ConnectConcurrency { get; init; } = 64;
    public IReadOnlyList<int>? ServerPids { get; init; }
    public int? StorePid { get; init; }
    public int Seed { get; init; } = 1;
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(30);
}

public sealed record CrowdResult
{
    public string Scenario { get; init; } = "crowd";
    public double MeanIntervalSeconds { get; init; }
    public double TypingLeadSeconds { get; init; }

    /// <summary>What the operator sizes a machine by (null without <c>--server-pid</c>).</summary>
    public CrowdFigures? Figures { get; init; }

    /// <summary>The run itself: every message checked as in the chat scenario, latencies, the other frames.</summary>
    public required ChatResult Chat { get; init; }

    public bool Clean => Chat.Clean && Chat.Frames.ViewedAcksRefused == 0;
}

/// <summary>
/// The cost of a crowd to the server, over the measured window. CPU is every process of the
/// target (a cluster's nodes and its database process) and counts everything a visit makes the
/// server do (messages, typing signals, confirmations, read receipts, the heartbeat), so the
/// figure per message is the whole visit's cost divided by the chat messages alone.
/// </summary>
/// <param name="CpuSeconds">Server CPU in the window, all of the target's processes.</param>
/// <param name="CoreShare">CPU seconds per second: the share of one core the crowd keeps busy.</param>
/// <param name="PercentOfCorePer1000Visitors">What 1,000 such visitors cost, in % of one core.</param>
/// <param name="CpuMicrosPerMessage">CPU per chat message delivered in the window, µs.</param>
/// <param name="KiBPerVisitor">Resident memory the visitors added (from before the first arrived to the end of the window), per visitor.</param>
/// <param name="VisitorsPerCore">Visitors one core carries at this pace: 1,000 / (the core share of 1,000 visitors).</param>
public sealed record CrowdFigures(
    int Visitors,
    double Seconds,
    long Messages,
    double MessagesPerSecond,
    double CpuSeconds,
    double CoreShare,
    double PercentOfCorePer1000Visitors,
    double CpuMicrosPerMessage,
    double KiBPerVisitor,
    double VisitorsPerCore)
{
    /// <summary>The figures from what was measured; null when there is nothing to divide by.</summary>
    public static CrowdFigures? Of(int visitors, double seconds, long messages, double cpuSeconds, long rssBeforeBytes, long rssEndBytes)
    {
        if (visitors <= 0 || seconds <= 0)
        {
            return null;
        }

        var share = cpuSeconds / seconds;
        return new CrowdFigures(
            visitors,
            Math.Round(seconds, 3),
            messages,
            Math.Round(messages / seconds, 1),
            Math.Round(cpuSeconds, 3),
            Math.Round(share, 4),
            Math.Round(100 * share * 1000 / visitors, 2),
            messages == 0 ? 0 : Math.Round(cpuSeconds * 1e6 / messages, 1),
            Math.Round((rssEndBytes - rssBeforeBytes) / 1024.0 / visitors, 2),
            share <= 0 ? 0 : Math.Round(visitors / share));
    }
}

/// <summary>
/// The operator's question: what does a crowd of people chatting at a human pace cost? Pairs of
/// visitors each send a message now and then (a Poisson process, mean 5 s), a typing signal
/// before each, confirm and read what they get as the web client does, and answer the server's
/// heartbeat; the run is the chat scenario's (every message checked), the figures are per visitor.
/// </summary>
public static class CrowdScenario
{
    public static async Task<CrowdResult> RunAsync(CrowdOptions options, CancellationToken cancellationToken)
    {
        var chat = await ChatScenario.RunAsync(new ChatOptions
        {
            Server = options.Server,
            MoreServers = options.MoreServers,
            Pairs = options.Visitors / 2,
            Messages = 0,
            Duration = options.Duration,
            MeanInterval = options.MeanInterval,
            Seed = options.Seed,
            TypingLead = options.TypingLead,
            ActsAsPage = true,
            Warmup = options.Warmup,
            ContentBytes = options.ContentBytes,
            SourceAddresses = options.SourceAddresses,
            ConnectConcurrency = options.ConnectConcurrency,
            ServerPids = options.ServerPids,
            StorePid = options.StorePid,
            ReplyTimeout = options.ReplyTimeout,
            Drain = options.Drain,
        }, cancellationToken);

        CrowdFigures? figures = null;
        if (chat.Server is { } server)
        {
            var store = chat.Store;
            figures = CrowdFigures.Of(
                chat.Visitors,
                chat.MeasuredSeconds,
                chat.DeliveredMeasured,
                server.CpuSeconds + (store?.CpuSeconds ?? 0),
                chat.ServerRssBeforeArrivalBytes + (store is null ? 0 : chat.StoreRssBeforeArrivalBytes),
                server.RssEndBytes + (store?.RssEndBytes ?? 0));
        }

        return new CrowdResult
        {
            MeanIntervalSeconds = options.MeanInterval.TotalSeconds,
            TypingLeadSeconds = options.TypingLead.TotalSeconds,
            Figures = figures,
            Chat = chat,
        };
    }
}
