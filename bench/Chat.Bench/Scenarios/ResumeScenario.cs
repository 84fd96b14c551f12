using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

public sealed record ResumeOptions
{
    public required Uri Server { get; init; }
    public int Pairs { get; init; } = 20;

    /// <summary>How many visitors lose their socket (one per pair, at most <see cref="Pairs"/>).</summary>
    public int Drops { get; init; } = 10;
    public double Rate { get; init; } = 5;
    public TimeSpan Before { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the dropped visitors stay away while their partners keep sending.</summary>
    public TimeSpan Away { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan After { get; init; } = TimeSpan.FromSeconds(3);
    public int SourceAddresses { get; init; } = 4;
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(5);
}

public sealed record ResumeResult
{
    public string Scenario { get; init; } = "resume";
    public int Pairs { get; init; }
    public int Dropped { get; init; }
    public int Reconnected { get; init; }
    public Dictionary<string, long> ReconnectCodes { get; init; } = [];
    public required LatencySummary ReconnectTime { get; init; }

    /// <summary>Messages the partners sent while the dropped visitors were away, and the server accepted.</summary>
    public long SentWhileAway { get; init; }

    /// <summary>Of those, how many reached the dropped visitor (after its RECONNECT).</summary>
    public long Replayed { get; init; }
    public Dictionary<string, long> RejectedByCode { get; init; } = [];
    public long PartnerExits { get; init; }
    public long Sent { get; init; }
    public long AckedOk { get; init; }
    public long Delivered { get; init; }
    public long Lost { get; init; }

    /// <summary>Lost messages to the dropped visitors sent before the drop (in flight when the socket died).</summary>
    public long LostSentBeforeDrop { get; init; }

    /// <summary>Lost messages to the dropped visitors sent while they were away.</summary>
    public long LostSentWhileAway { get; init; }

    /// <summary>Lost messages to the dropped visitors sent after they reconnected.</summary>
    public long LostSentAfterReconnect { get; init; }

    /// <summary>Lost messages the dropped visitors sent (their partners never got them).</summary>
    public long LostFromDropped { get; init; }
    public long Duplicated { get; init; }
    public long OutOfOrder { get; init; }
    public long Misrouted { get; init; }
    public required LatencySummary EndToEnd { get; init; }
}

/// <summary>
/// Pairs talk in an open loop; some visitors lose their socket without a close frame, their
/// partners keep sending, then they come back with RECONNECT_REQ. Counts what reaches them.
/// </summary>
public static class ResumeScenario
{
    public static async Task<ResumeResult> RunAsync(ResumeOptions options, CancellationToken cancellationToken)
    {
        var traffic = new Traffic { ClosedLoop = false, MessageLimit = 0 };
        var connector = new VisitorConnector(options.Server, options.SourceAddresses);
        await using var crowd = new Crowd(connector, traffic, options.Pairs * 2);
        var visitors = crowd.Visitors;
        await crowd.ArriveAsync(64, options.ReplyTimeout, cancellationToken);
        await crowd.MatchAsync(64, options.ReplyTimeout, cancellationToken);

        var runStart = Stopwatch.GetTimestamp();
        traffic.StartMeasuring(runStart);
        var senders = OpenLoopPacer.RunAsync(visitors, options.Rate, runStart, traffic, cancellationToken);
        await Task.Delay(options.Before, cancellationToken);

        // One visitor of each of the first pairs drops.
        var dropped = new List<Visitor>();
        var seen = new HashSet<int>();
        foreach (var v in visitors)
        {
            if (dropped.Count < options.Drops && seen.Add(v.Index) && seen.Add(v.PartnerIndex))
            {
                dropped.Add(v);
            }
        }

        var awayFrom = dropped.ToDictionary(v => v.Index, v => visitors[v.PartnerIndex].Sent);
        await Task.WhenAll(dropped.Select(v => v.AbortAsync()));
        await Task.Delay(options.Away, cancellationToken);

        var awayTo = dropped.ToDictionary(v => v.Index, v => visitors[v.PartnerIndex].Sent);
        var reconnectTime = new LatencyRecorder();
        var codes = new Dictionary<string, long>();
        var reconnected = 0;
        foreach (var reply in await Task.WhenAll(dropped.Select(v => ReconnectAsync(v, options.ReplyTimeout, reconnectTime, cancellationToken))))
        {
            codes[reply] = codes.GetValueOrDefault(reply) + 1;
            reconnected += reply == "0" ? 1 : 0;
        }

        await Task.Delay(options.After, cancellationToken);
        traffic.Stop();
        await senders.WaitAsync(options.Drain, cancellationToken);
        await Task.Delay(options.Drain, cancellationToken);

        long sentWhileAway = 0, replayed = 0, lost = 0, lostBefore = 0, lostAway = 0, lostAfter = 0, lostFrom = 0;
        foreach (var v in dropped)
        {
            var partner = visitors[v.PartnerIndex];
            sentWhileAway += partner.Accepted.CountIn(awayFrom[v.Index] + 1, awayTo[v.Index]);
            replayed += v.Received.CountIn(awayFrom[v.Index] + 1, awayTo[v.Index]);
            lostBefore += v.Received.CountMissing(partner.Accepted, 0, awayFrom[v.Index]);
            lostAway += v.Received.CountMissing(partner.Accepted, awayFrom[v.Index] + 1, awayTo[v.Index]);
            lostAfter += v.Received.CountMissing(partner.Accepted, awayTo[v.Index] + 1);
            lostFrom += partner.Received.CountMissing(v.Accepted);
        }

        foreach (var v in visitors)
        {
            lost += v.Received.CountMissing(visitors[v.PartnerIndex].Accepted);
        }

        var rejected = new Dictionary<string, long>();
        foreach (var (code, n) in visitors.SelectMany(v => v.Rejected))
        {
            rejected[code.ToString()] = rejected.GetValueOrDefault(code.ToString()) + n;
        }

        return new ResumeResult
        {
            Pairs = options.Pairs,
            Dropped = dropped.Count,
            Reconnected = reconnected,
            ReconnectCodes = codes,
            ReconnectTime = reconnectTime.Summarize(),
            SentWhileAway = sentWhileAway,
            Replayed = replayed,
            RejectedByCode = rejected,
            PartnerExits = visitors.Sum(v => v.PartnerExits),
            Sent = visitors.Sum(v => v.Sent),
            AckedOk = visitors.Sum(v => v.AckedOk),
            Delivered = visitors.Sum(v => v.Delivered),
            Lost = lost,
            LostSentBeforeDrop = lostBefore,
            LostSentWhileAway = lostAway,
            LostSentAfterReconnect = lostAfter,
            LostFromDropped = lostFrom,
            Duplicated = visitors.Sum(v => v.Duplicates),
            OutOfOrder = visitors.Sum(v => v.OutOfOrder),
            Misrouted = visitors.Sum(v => v.Misrouted),
            EndToEnd = traffic.EndToEnd.Summarize(),
        };
    }

    private static async Task<string> ReconnectAsync(Visitor visitor, TimeSpan timeout, LatencyRecorder time, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var reply = await visitor.ReconnectAsync(timeout, cancellationToken);
            time.Record(start, Stopwatch.GetTimestamp());
            return reply.Code.ToString();
        }
        catch (Exception e) when (e is TimeoutException or System.Net.WebSockets.WebSocketException)
        {
            return "no reply";
        }
    }
}
