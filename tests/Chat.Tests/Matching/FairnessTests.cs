using Chat.Logic;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Chat.Testing.Cluster;

namespace Chat.Tests.Matching;

/// <summary>
/// Issue 22's fairness: with a skewed mix of interests (a Zipf set, as people's interests are), nobody
/// waits much past the fallback delay while later visitors take the partners they could have had, and
/// everybody is paired exactly once. Logic on two silos, four matchmaker shards, without sockets (10,000
/// sockets are the bench's, bench/run.sh --match-storm); the rules' clock is a fake one the test moves
/// in steps, sweeping every shard once per step, so the waits are measured in the rules' own time.
/// </summary>
public sealed class FairnessTests
{
    private const int Visitors = 10_000;
    private const int ArrivalsPerStep = 100;
    private const int Tags = 500;
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FallbackDelay = TimeSpan.FromSeconds(5);

    /// <summary>What "a small constant" is: ten sweeps.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Ten_thousand_visitors_with_skewed_interests_are_each_paired_once_within_the_fallback_delay_and_a_few_sweeps()
    {
        // The sweeper's own timer never fires on the fake clock (an hour): the test sweeps, step by step.
        await using var cluster = await LogicCluster.StartAsync(2, "Chat:Matching:SweepInterval=01:00:00", "Chat:Matching:Shards=4");
        var grains = cluster.ServiceOn<ChatGrains>(cluster.Silos[0]);
        var random = new Random(22);
        var zipf = ZipfWeights(Tags);

        var visitors = new ClusterVisitor[Visitors];
        for (var from = 0; from < Visitors; from += 250)
        {
            var batch = await Task.WhenAll(Enumerable.Range(from, Math.Min(250, Visitors - from)).Select(i =>
                ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[i % 2]), $"v{i}")));
            batch.CopyTo(visitors, from);
        }

        var index = visitors.Select((v, i) => (v.AccountId, i)).ToDictionary(p => p.AccountId, p => p.i);
        var asked = new DateTimeOffset[Visitors];
        var paired = new DateTimeOffset?[Visitors];
        var partner = new ulong[Visitors];
        var session = new ulong[Visitors];
        var bySignal = new bool[Visitors];
        var byFallback = 0;
        var interestsOf = new string[Visitors][];

        void Paired(int i, ulong partnerId, ulong sessionId)
        {
            Assert.Null(paired[i]); // nobody is paired twice
            (paired[i], partner[i], session[i]) = (cluster.Clock.GetUtcNow(), partnerId, sessionId);
        }

        var next = 0;
        for (var step = 0; paired.Any(p => p is null); step++)
        {
            Assert.True(step < 400, $"{paired.Count(p => p is null)} visitors still waiting after {step} sweeps");
            var arriving = Enumerable.Range(next, Math.Min(ArrivalsPerStep, Visitors - next)).ToList();
            next += arriving.Count;
            var results = await Task.WhenAll(arriving.Select(i =>
            {
                interestsOf[i] = DrawInterests(random, zipf, 3);
                asked[i] = cluster.Clock.GetUtcNow();
                return visitors[i].MatchAsync(new MatchWish(interestsOf[i]));
            }));

            for (var k = 0; k < arriving.Count; k++)
            {
                var result = results[k];
                if (result.Code == ResultCode.Success)
                {
                    Paired(arriving[k], result.PartnerId, result.SessionId);
                }
                else
                {
                    Assert.Equal(ResultCode.NoDataFound, result.Code);
                }
            }

            await grains.EveryMatchmaker(shard => shard.Sweep());

            // Whoever waited hears of its partner by NewSession (pushed once the session is open).
            for (var i = 0; i < next; i++)
            {
                if (paired[i] is null && visitors[i].Received().OfType<SignalPush>().FirstOrDefault(s => s.Kind == SignalKind.NewSession) is { } joined)
                {
                    Paired(i, joined.AccountId, joined.SessionId);
                    bySignal[i] = true;
                }
            }

            cluster.Clock.Advance(Step);
        }

        for (var i = 0; i < Visitors; i++)
        {
            var j = index[partner[i]];
            Assert.NotEqual(i, j);
            Assert.Equal(visitors[i].AccountId, partner[j]); // each other's partner, in one session
            Assert.Equal(session[i], session[j]);
            var told = visitors[i].Received().OfType<SignalPush>().Where(s => s.Kind == SignalKind.NewSession).Select(s => s.SessionId).ToList();
            Assert.Equal(bySignal[i] ? [session[i]] : [], told); // told of its one session once, or answered with it
            var waited = paired[i]!.Value - asked[i];
            Assert.True(waited <= FallbackDelay + Slack, $"visitor {i} ({string.Join(", ", interestsOf[i])}) waited {waited.TotalSeconds:0.0} s");
            if (!interestsOf[i].Intersect(interestsOf[j]).Any())
            {
                byFallback++;
            }
        }

        Assert.Equal(Visitors / 2, session.Distinct().Count());

        // The skew is real: some pairs share nothing (the rare tags fall back), most share one.
        Assert.InRange(byFallback, 1, Visitors / 2);
    }

    private static double[] ZipfWeights(int tags)
    {
        var cumulative = new double[tags];
        var sum = 0.0;
        for (var k = 0; k < tags; k++)
        {
            sum += 1.0 / (k + 1); // s = 1
            cumulative[k] = sum;
        }

        return [.. cumulative.Select(c => c / sum)];
    }

    private static string[] DrawInterests(Random random, double[] cumulative, int count)
    {
        var drawn = new HashSet<string>();
        while (drawn.Count < count)
        {
            var at = Array.BinarySearch(cumulative, random.NextDouble());
            drawn.Add($"tag{(at < 0 ? ~at : at)}");
        }

        return [.. drawn];
    }
}
