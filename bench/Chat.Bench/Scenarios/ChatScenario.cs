using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

public sealed record ChatOptions
{
    public required Uri Server { get; init; }

    /// <summary>Further servers (a cluster's other brokers): visitors connect to each in turn.</summary>
    public IReadOnlyList<Uri> MoreServers { get; init; } = [];
    public int Pairs { get; init; } = 5;

    /// <summary>Messages each visitor sends; 0 to send until <see cref="Duration"/> ends.</summary>
    public long Messages { get; init; } = 50;
    public TimeSpan? Duration { get; init; }

    /// <summary>Messages a second per visitor (open loop); 0 for a closed loop.</summary>
    public double Rate { get; init; }

    /// <summary>
    /// Open loop at a person's pace: each visitor's messages a Poisson process with this mean gap
    /// (instead of <see cref="Rate"/>), drawn from generators seeded with <see cref="Seed"/>.
    /// </summary>
    public TimeSpan? MeanInterval { get; init; }
    public int Seed { get; init; } = 1;

    /// <summary>Open loop: a TYPING_REQ this long before each message (zero: none).</summary>
    public TimeSpan TypingLead { get; init; }

    /// <summary>Visitors confirm every push and send read receipts, as the web client does (see <see cref="Traffic.ActsAsPage"/>).</summary>
    public bool ActsAsPage { get; init; }

    /// <summary>Closed loop: messages a visitor keeps outstanding (sent, not yet acknowledged).</summary>
    public int Window { get; init; } = 1;
    public TimeSpan Warmup { get; init; }
    public int ContentBytes { get; init; } = 64;
    public int SourceAddresses { get; init; } = 4;
    public int ConnectConcurrency { get; init; } = 64;

    /// <summary>The server's processes (a cluster's nodes), measured together.</summary>
    public IReadOnlyList<int>? ServerPids { get; init; }

    /// <summary>
    /// Send a message refused with InternalErr again, with its requestId, as the web client does
    /// (a cluster refuses while a dead node's chats move); otherwise a refusal is final.
    /// </summary>
    public bool RetryRefused { get; init; }

    /// <summary>The server's database process (mariadbd), measured on its own: its CPU is part of what a message costs.</summary>
    public int? StorePid { get; init; }
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for stragglers after the last send, and the bound on a count-limited run.</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan MaxRun { get; init; } = TimeSpan.FromMinutes(10);
}

public sealed record ChatResult
{
    public string Scenario { get; init; } = "chat";
    public required string Mode { get; init; }
    public int Visitors { get; init; }
    public double SetupSeconds { get; init; }
    public double MeasuredSeconds { get; init; }
    public long Sent { get; init; }
    public long AckedOk { get; init; }
    public Dictionary<string, long> RejectedByCode { get; init; } = [];
    public long Delivered { get; init; }
    public long DeliveredMeasured { get; init; }
    public double MessagesPerSecond { get; init; }
    public required LatencySummary EndToEnd { get; init; }
    public required LatencySummary Ack { get; init; }

    /// <summary>End-to-end: the worst latency of the measured messages sent in each second, in ms.</summary>
    public double[] EndToEndMaxBySecond { get; init; } = [];

    /// <summary>
    /// Accepted (DIALOGUE_RESP code 0) but never received by the partner. Proven lost only when
    /// <see cref="Settled"/>; otherwise some were still on their way when the drain ended.
    /// </summary>
    public long Lost { get; init; }

    /// <summary>Every sent message got its DIALOGUE_RESP and every accepted one arrived before the drain ended.</summary>
    public bool Settled { get; init; }

    /// <summary>Messages sent that never got a DIALOGUE_RESP.</summary>
    public long Unanswered { get; init; }
    public long Duplicated { get; init; }
    public long OutOfOrder { get; init; }
    public long Misrouted { get; init; }
    public long MsgIdRegressions { get; init; }
    public long Unexpected { get; init; }
    public long PartnerExits { get; init; }

    /// <summary>Sends refused with InternalErr and sent again (with <c>--retry-refused</c>).</summary>
    public long Retried { get; init; }

    /// <summary>Messages that arrived after later ones of the same sender because they were refused and sent again: in the server's order, which is the chat's.</summary>
    public long LateAfterRetry { get; init; }

    /// <summary>The longest time any visitor went without a message from its partner while both talked, in seconds: how long the worst-hit chat stood still.</summary>
    public double LongestSilenceSeconds { get; init; }
    public long Disconnected { get; init; }
    public long Unpaired { get; init; }

    /// <summary>The other frames of the whole run (not only the measured window), as the page sends and gets them.</summary>
    public PageFrames Frames { get; init; } = new();

    /// <summary>The server's processes' RSS before the first visitor arrived (summed over a cluster's nodes).</summary>
    public long ServerRssBeforeArrivalBytes { get; init; }

    /// <summary>The database process's RSS before the first visitor arrived (with <c>--store-pid</c>).</summary>
    public long StoreRssBeforeArrivalBytes { get; init; }
    public ServerUsage? Server { get; init; }

    /// <summary>The server's database process (with <c>--store-pid</c>): add it to <see cref="Server"/> for what a message costs in all.</summary>
    public ServerUsage? Store { get; init; }
    public double BenchCpuMicrosPerMessage { get; init; }
    public double BenchAllocatedBytesPerMessage { get; init; }

    /// <summary>Nothing lost, duplicated, reordered or misrouted.</summary>
    public bool Clean => Lost == 0 && Duplicated == 0 && OutOfOrder == 0 && Misrouted == 0 && MsgIdRegressions == 0 && Unpaired == 0;

    /// <summary>Every message sent was accepted and delivered.</summary>
    public bool AllDelivered => Sent > 0 && AckedOk == Sent && Delivered == Sent;
}

/// <summary>A visit's frames besides the messages and their DIALOGUE_RESP, over the whole run.</summary>
public sealed record PageFrames
{
    public long TypingSent { get; init; }
    public long TypingSignals { get; init; }
    public long PushesConfirmed { get; init; }
    public long ViewedAcksSent { get; init; }
    public long ViewedAcksOk { get; init; }
    public long ViewedAcksRefused { get; init; }
    public long ReadReceipts { get; init; }
    public long PingsAnswered { get; init; }
}

/// <summary>
/// Pairs of visitors talk: prepare (arrive, match), run (closed or open loop, warm-up not counted),
/// complete (drain, check every message arrived once, in order, at the right partner).
/// </summary>
public static class ChatScenario
{
    public static async Task<ChatResult> RunAsync(ChatOptions options, CancellationToken cancellationToken)
    {
        var traffic = new Traffic
        {
            ClosedLoop = options.Rate <= 0 && options.MeanInterval is null,
            ActsAsPage = options.ActsAsPage,
            RetryRefused = options.RetryRefused,
            MessageLimit = options.Messages,
            ContentBytes = options.ContentBytes,
        };
        var connector = new VisitorConnector([options.Server, .. options.MoreServers], options.SourceAddresses);
        await using var crowd = new Crowd(connector, traffic, options.Pairs * 2);
        var visitors = crowd.Visitors;

        // Prepare.
        var baseline = ProcessSample.TryRead(options.ServerPids);
        var storeBaseline = ProcessSample.TryRead(options.StorePid);
        var setupStart = Stopwatch.GetTimestamp();
        await crowd.ArriveAsync(options.ConnectConcurrency, options.ReplyTimeout, cancellationToken);
        await crowd.MatchAsync(options.ConnectConcurrency, options.ReplyTimeout, cancellationToken);
        var setup = Stopwatch.GetElapsedTime(setupStart);

        // Run.
        var runStart = Stopwatch.GetTimestamp();
        Snapshot? first = null;
        if (options.Warmup <= TimeSpan.Zero)
        {
            first = Snapshot.Take(visitors, options.ServerPids, options.StorePid);
            traffic.StartMeasuring(runStart);
        }

        Task[] senders = traffic.ClosedLoop
            ? [.. visitors.Select(v => StartWindowAsync(v, options.Window, cancellationToken))]
            : [OpenLoopPacer.RunAsync(visitors, ScheduleOf(options), options.TypingLead, runStart, traffic, cancellationToken)];

        Snapshot? last = null;
        var runBound = options.Duration is { } d ? options.Warmup + d : options.MaxRun;
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(20, cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(runStart);
            if (first is null && elapsed >= options.Warmup)
            {
                traffic.StartMeasuring(Stopwatch.GetTimestamp());
                first = Snapshot.Take(visitors, options.ServerPids, options.StorePid);
            }

            if (options.Messages > 0 && AllSentAndSettled(visitors, options.Messages))
            {
                break;
            }

            if (elapsed >= runBound)
            {
                last = Snapshot.Take(visitors, options.ServerPids, options.StorePid);
                break;
            }
        }

        traffic.Stop();
        await Task.WhenAll(senders).WaitAsync(options.Drain, cancellationToken);

        // Complete: wait for what is still on its way.
        var drainStart = Stopwatch.GetTimestamp();
        var settled = Settled(visitors);
        while (!settled && Stopwatch.GetElapsedTime(drainStart) < options.Drain)
        {
            await Task.Delay(20, cancellationToken);
            settled = Settled(visitors);
        }

        if (last is null)
        {
            var end = Snapshot.Take(visitors, options.ServerPids, options.StorePid);
            // A count-limited run ends at its last delivery, not at the poll that noticed it.
            var lastDelivery = visitors.Max(v => v.LastDeliveryAt);
            last = end with { Timestamp = lastDelivery > 0 ? lastDelivery : end.Timestamp };
        }

        return Summarize(options, traffic, visitors, setup, first, last.Value, settled) with
        {
            ServerRssBeforeArrivalBytes = baseline?.RssBytes ?? 0,
            StoreRssBeforeArrivalBytes = storeBaseline?.RssBytes ?? 0,
        };
    }

    private static SendSchedule ScheduleOf(ChatOptions options) =>
        options.MeanInterval is { } mean ? new PoissonSchedule(mean, options.Seed) : new FixedRateSchedule(options.Rate);

    private static string ModeOf(ChatOptions options, Traffic traffic)
    {
        var mode = traffic.ClosedLoop ? $"closed loop, window {options.Window}"
            : options.MeanInterval is { } mean ? $"human pace, a Poisson process per visitor, mean gap {mean.TotalSeconds:0.###} s"
            : $"open loop, {options.Rate} msg/s per visitor";
        if (!traffic.ClosedLoop && options.TypingLead > TimeSpan.Zero)
        {
            mode += $", typing {options.TypingLead.TotalSeconds:0.###} s before each message";
        }

        return options.ActsAsPage ? mode + ", pushes confirmed and read as the web client does" : mode;
    }

    private static async Task StartWindowAsync(Visitor visitor, int window, CancellationToken cancellationToken)
    {
        for (var i = 0; i < window; i++)
        {
            await visitor.SendMessageAsync(Stopwatch.GetTimestamp(), cancellationToken);
        }
    }

    private static bool AllSentAndSettled(Visitor[] visitors, long messages)
    {
        foreach (var v in visitors)
        {
            if (v.Online && v.Acks < messages)
            {
                return false;
            }
        }

        return Settled(visitors);
    }

    /// <summary>Every sent message has its ack, and every accepted one reached the partner.</summary>
    private static bool Settled(Visitor[] visitors)
    {
        foreach (var v in visitors)
        {
            if (v.Online && v.Acks < v.Sent)
            {
                return false;
            }

            if (v.PartnerIndex >= 0 && visitors[v.PartnerIndex].Online && v.Delivered < visitors[v.PartnerIndex].AckedOk)
            {
                return false;
            }
        }

        return true;
    }

    private static ChatResult Summarize(ChatOptions options, Traffic traffic, Visitor[] visitors, TimeSpan setup, Snapshot? first, Snapshot last, bool settled)
    {
        var start = first ?? last;
        var seconds = Math.Max(0, Stopwatch.GetElapsedTime(start.Timestamp, last.Timestamp).TotalSeconds);
        var measured = last.Delivered - start.Delivered;
        var rejected = new Dictionary<string, long>();
        foreach (var (code, n) in visitors.SelectMany(v => v.Rejected))
        {
            rejected[code.ToString()] = rejected.GetValueOrDefault(code.ToString()) + n;
        }

        long lost = 0;
        foreach (var v in visitors)
        {
            if (v.PartnerIndex >= 0)
            {
                lost += v.Received.CountMissing(visitors[v.PartnerIndex].Accepted);
            }
        }

        return new ChatResult
        {
            Mode = ModeOf(options, traffic),
            Visitors = visitors.Length,
            SetupSeconds = Math.Round(setup.TotalSeconds, 3),
            MeasuredSeconds = Math.Round(seconds, 3),
            Sent = visitors.Sum(v => v.Sent),
            AckedOk = visitors.Sum(v => v.AckedOk),
            RejectedByCode = rejected,
            Delivered = visitors.Sum(v => v.Delivered),
            DeliveredMeasured = measured,
            MessagesPerSecond = seconds > 0 ? Math.Round(measured / seconds, 1) : 0,
            EndToEnd = traffic.EndToEnd.Summarize(),
            EndToEndMaxBySecond = traffic.EndToEnd.MaxBySecond(),
            Ack = traffic.Ack.Summarize(),
            Lost = lost,
            Settled = settled,
            Unanswered = visitors.Sum(v => Math.Max(0, v.Sent - v.Acks)),
            Duplicated = visitors.Sum(v => v.Duplicates),
            OutOfOrder = visitors.Sum(v => v.OutOfOrder),
            Misrouted = visitors.Sum(v => v.Misrouted),
            MsgIdRegressions = visitors.Sum(v => v.MsgIdRegressions),
            Unexpected = visitors.Sum(v => v.Unexpected),
            PartnerExits = visitors.Sum(v => v.PartnerExits),
            Retried = visitors.Sum(v => v.Retried),
            LateAfterRetry = visitors.Sum(v => v.LateAfterRetry),
            LongestSilenceSeconds = Math.Round(visitors.Max(v => v.LongestSilence).TotalSeconds, 3),
            Disconnected = visitors.Count(v => !v.Online),
            Unpaired = visitors.Count(v => v.Pairings != 1),
            Frames = new PageFrames
            {
                TypingSent = visitors.Sum(v => v.TypingSent),
                TypingSignals = visitors.Sum(v => v.TypingSignals),
                PushesConfirmed = visitors.Sum(v => v.PushesConfirmed),
                ViewedAcksSent = visitors.Sum(v => v.ViewedAcksSent),
                ViewedAcksOk = visitors.Sum(v => v.ViewedAcksOk),
                ViewedAcksRefused = visitors.Sum(v => v.ViewedAcksRefused),
                ReadReceipts = visitors.Sum(v => v.ReadReceipts),
                PingsAnswered = visitors.Sum(v => v.PingsAnswered),
            },
            Server = ServerUsage.Between(start, last, measured),
            Store = ServerUsage.Between(start.Store, last.Store, measured),
            BenchCpuMicrosPerMessage = measured == 0 ? 0 : Math.Round((last.Self.Cpu - start.Self.Cpu).TotalMicroseconds / measured, 2),
            BenchAllocatedBytesPerMessage = measured == 0 ? 0 : Math.Round((double)(last.Allocated - start.Allocated) / measured, 1),
        };
    }
}
