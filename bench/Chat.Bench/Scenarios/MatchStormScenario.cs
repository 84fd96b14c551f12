using System.Diagnostics;
using Chat.Bench.Connections;
using Chat.Bench.Measuring;

namespace Chat.Bench.Scenarios;

public sealed record MatchStormOptions
{
    public required Uri Server { get; init; }

    /// <summary>Further servers (a cluster's other brokers): visitors connect to each in turn.</summary>
    public IReadOnlyList<Uri> MoreServers { get; init; } = [];
    public int Visitors { get; init; } = 1000;
    public int SourceAddresses { get; init; } = 4;
    public int ConnectConcurrency { get; init; } = 64;
    /// <summary>The server's processes (several for a cluster), measured together.</summary>
    public IReadOnlyList<int>? ServerPids { get; init; }
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Interests each visitor's MATCH_REQ carries (0: none, as the seed's client), drawn from <see cref="Tags"/> tags with Zipf weights (s = 1).</summary>
    public int Interests { get; init; }

    public int Tags { get; init; } = 500;

    /// <summary>
    /// Visitors of an unmeasured storm run first (0: none), who then leave: a server that has just
    /// started compiles the matching path while it pairs, so the first storm measures the runtime's
    /// warm-up as much as the matchmaker. A service that has run for a while pays only the second.
    /// </summary>
    public int Warmup { get; init; }
}

public sealed record MatchStormResult
{
    public string Scenario { get; init; } = "match-storm";
    public int Visitors { get; init; }

    /// <summary>Visitors of the unmeasured storm before this one (0: the server's first storm).</summary>
    public int Warmup { get; init; }

    /// <summary>The unmeasured storm's time to pair all (0: none ran).</summary>
    public double WarmupPairAllSeconds { get; init; }

    /// <summary>The unmeasured storm paired each of its visitors exactly once (true when none ran).</summary>
    public bool WarmupClean { get; init; } = true;
    public double ArriveSeconds { get; init; }

    /// <summary>From the first MATCH_REQ sent to the last visitor told its partner.</summary>
    public double PairAllSeconds { get; init; }
    public required LatencySummary TimeToPair { get; init; }
    public int Paired { get; init; }
    public int PairedMoreThanOnce { get; init; }
    public int Unpaired { get; init; }
    public int PartnersDisagree { get; init; }
    public int Sessions { get; init; }

    /// <summary>Interests per visitor (0: none asked for).</summary>
    public int Interests { get; init; }

    /// <summary>Sessions whose two visitors share no interest: paired by the fallback (with interests only).</summary>
    public int SessionsByFallback { get; init; }
    public ServerUsage? Server { get; init; }

    public bool Clean => WarmupClean && Unpaired == 0 && PairedMoreThanOnce == 0 && PartnersDisagree == 0 && Sessions * 2 == Visitors;
}

/// <summary>N visitors (with accounts) ask to be matched at the same moment.</summary>
public static class MatchStormScenario
{
    public static async Task<MatchStormResult> RunAsync(MatchStormOptions options, CancellationToken cancellationToken)
    {
        MatchStormResult? warmup = null;
        if (options.Warmup > 0)
        {
            // Its visitors' sockets close when it returns; their logouts overlap the next arrival, not the storm measured.
            warmup = await RunAsync(options with { Visitors = options.Warmup, Warmup = 0 }, cancellationToken);
        }

        var traffic = new Traffic();
        var connector = new VisitorConnector([options.Server, .. options.MoreServers], options.SourceAddresses);
        await using var crowd = new Crowd(connector, traffic, options.Visitors, receiveBufferBytes: 1024);
        var visitors = crowd.Visitors;

        var arriveStart = Stopwatch.GetTimestamp();
        await crowd.ArriveAsync(options.ConnectConcurrency, options.ReplyTimeout, cancellationToken);
        var arrive = Stopwatch.GetElapsedTime(arriveStart);

        var first = Snapshot.Take(visitors, options.ServerPids);
        var t0 = Stopwatch.GetTimestamp();
        var wishes = Zipf.Draw(visitors.Length, options.Interests, options.Tags, seed: 22);
        using var asking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var asks = visitors.Select((v, i) => AskUntilPairedAsync(v, wishes[i], options.ReplyTimeout, asking.Token)).ToArray();
        var allPaired = await crowd.WhenPairedAsync(options.ReplyTimeout, cancellationToken);
        var last = Snapshot.Take(visitors, options.ServerPids);
        await asking.CancelAsync();
        await Task.WhenAll(asks);

        // Let a late second NewSession (a visitor matched twice) show up before counting.
        await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);

        var timeToPair = new LatencyRecorder();
        long lastPaired = t0;
        foreach (var v in visitors.Where(v => v.Pairings > 0))
        {
            timeToPair.Record(t0, v.PairedAt);
            lastPaired = Math.Max(lastPaired, v.PairedAt);
        }

        var disagree = visitors.Count(v => v.Pairings > 0 && (v.PartnerIndex < 0
            || visitors[v.PartnerIndex].PartnerId != v.AccountId
            || visitors[v.PartnerIndex].SessionId != v.SessionId));

        return new MatchStormResult
        {
            Visitors = options.Visitors,
            Warmup = options.Warmup,
            WarmupPairAllSeconds = warmup?.PairAllSeconds ?? 0,
            WarmupClean = warmup?.Clean ?? true,
            ArriveSeconds = Math.Round(arrive.TotalSeconds, 3),
            PairAllSeconds = allPaired ? Math.Round(Stopwatch.GetElapsedTime(t0, lastPaired).TotalSeconds, 3) : -1,
            TimeToPair = timeToPair.Summarize(),
            Paired = visitors.Count(v => v.Pairings > 0),
            PairedMoreThanOnce = visitors.Count(v => v.Pairings > 1),
            Unpaired = visitors.Count(v => v.Pairings == 0),
            PartnersDisagree = disagree,
            Sessions = visitors.Where(v => v.Pairings > 0).Select(v => v.SessionId).Distinct().Count(),
            Interests = options.Interests,
            SessionsByFallback = options.Interests == 0 ? 0 : visitors.Select((v, i) => (v, i))
                .Count(p => p.v.Pairings > 0 && p.v.PartnerIndex > p.i && !wishes[p.i].Intersect(wishes[p.v.PartnerIndex]).Any()),
            Server = ServerUsage.Between(first, last, visitors.Length),
        };
    }

    /// <summary>
    /// Asks as a page does after a failure: MATCH_REQ, and again after <see cref="MatchRetry"/> when the
    /// answer was neither a partner nor "waiting" (a "try again" from a node in trouble); told "waiting",
    /// it waits for its partner. A visitor that gave up after one "try again" would count as never
    /// paired; one that asked again while waiting would be asking for a second chat (the server allows
    /// several), and the run would count it paired twice.
    /// </summary>
    private static async Task AskUntilPairedAsync(Visitor visitor, IReadOnlyList<string> wish, TimeSpan timeout, CancellationToken cancellationToken)
    {
        while (visitor.Pairings == 0 && !cancellationToken.IsCancellationRequested)
        {
            try
            {
                var reply = await visitor.MatchAsync(timeout, cancellationToken, wish);
                if (reply.Code is Waiting or 0)
                {
                    return; // the partner comes as NewSession; the storm waits for it
                }

                await visitor.Paired.WaitAsync(MatchRetry, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException or System.Net.WebSockets.WebSocketException or IOException or System.Net.Sockets.SocketException)
            {
            }
        }
    }

    /// <summary>MATCH_RESP's code for "waiting for a partner".</summary>
    private const int Waiting = 4;

    /// <summary>How soon the pages ask again after a refused or failed ask (the seed's client and ours: 3 s).</summary>
    private static readonly TimeSpan MatchRetry = TimeSpan.FromSeconds(3);
}

/// <summary>Interests as people have them: a few popular, a long tail (Zipf weights, s = 1), drawn the same for the same seed.</summary>
internal static class Zipf
{
    public static string[][] Draw(int visitors, int each, int tags, int seed)
    {
        if (each <= 0)
        {
            return [.. Enumerable.Repeat(Array.Empty<string>(), visitors)];
        }

        var cumulative = new double[tags];
        var sum = 0.0;
        for (var k = 0; k < tags; k++)
        {
            sum += 1.0 / (k + 1);
            cumulative[k] = sum;
        }

        var random = new Random(seed);
        var drawn = new string[visitors][];
        for (var v = 0; v < visitors; v++)
        {
            var set = new HashSet<string>();
            while (set.Count < Math.Min(each, tags))
            {
                var at = Array.BinarySearch(cumulative, random.NextDouble() * sum);
                set.Add($"tag{(at < 0 ? ~at : at)}");
            }

            drawn[v] = [.. set];
        }

        return drawn;
    }
}
