using System.Globalization;
using Chat.Testing.Faults;
using Chat.Testing.Network;
using Chat.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Chat.Tests.Faults;

/// <summary>
/// A slow and lossy link between a broker and the logic nodes under chat load: every connection between them, the
/// broker's calls and logic's pushes, waits 100 ms ± 50 ms in each direction (a transparent relay on the side dialled,
/// order kept: <see cref="FaultNetwork.SlowLinkAsync"/>; TLS end to end, names checked as always), and the broker's host
/// drops 2 % of the packets it sends to and gets from them (nft), for 60 s. TCP retransmits; the chat must see nothing
/// worse than slower answers: nothing acknowledged lost, nothing out of order or doubled, and no false death verdict
/// (logic never takes the broker for gone, so no partner hears PartnerAway, no chat ends, no one is paired again).
/// <c>CHAT_SLOWLINK_SECONDS</c> sets the slow stretch (the bench's 5 minutes: docs/benchmarks.md, "slowlink").
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class SlowLinkTests(ITestOutputHelper output)
{
    private const int Pairs = 4;
    private const int LossPercent = 2;
    private static readonly LinkDelay Delay = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(50));
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("CHAT_SLOWLINK_SECONDS") ?? "60", CultureInfo.InvariantCulture));

    [SkippableFact]
    public async Task SlowLink_of_100ms_jitter_50ms_and_2_percent_loss_between_a_broker_and_logic_loses_nothing_keeps_order_and_declares_no_one_dead()
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);
        await using var faults = await FaultCluster.StartWithSlowLinkAsync("broker1", logicNodes: 2, brokers: 2);
        var cluster = faults.Cluster;
        var link = faults.SlowLink!;
        var (slow, other) = (cluster.Brokers[0], cluster.Brokers[1]);
        var logicHosts = cluster.Logic.Select(faults.HostOf).ToList();
        try
        {
            await using var load = await ChatLoad.StartAsync(slow, other, Pairs);

            // The link carries the broker's calls into the logic nodes and their pushes into the broker: nothing goes around it.
            var calls = logicHosts.Sum(link.ConnectionsInto);
            var pushes = link.ConnectionsInto(faults.HostOf(slow));
            Assert.True(calls > 0 && pushes > 0, $"connections over the slow link: {calls} into logic, {pushes} into the broker");

            link.Delay = Delay;
            await faults.Network.LoseAsync(faults.HostOf(slow), LossPercent, logicHosts);
            var from = load.Now;
            TimeSpan until;
            try
            {
                await Task.Delay(Slow); // the slow stretch is the fault itself, not a wait for an event
            }
            finally
            {
                until = load.Now;
                await faults.Network.ClearAsync(faults.HostOf(slow));
                link.Delay = null;
            }

            await load.UntilEachHasAsync(3, "three more messages each after the slow stretch");
            await load.StopAndCheckDeliveredAsync(); // exactly what was acknowledged, once each, in order

            var during = load.Answers.Where(a => a.AskedAt >= from && a.AskedAt < until).ToList();
            var onSlow = load.Pairs.Select(p => p.A.AccountId).ToHashSet(); // each pair's A is on the slow broker
            var (acknowledged, doubled) = load.Totals();
            output.WriteLine($"{Delay.Mean.TotalMilliseconds:0} ms ± {Delay.Jitter.TotalMilliseconds:0} ms each way and {LossPercent} % loss for {(until - from).TotalSeconds:0} s, {Pairs} pairs: {during.Count(a => a.Code == 0)} sends acknowledged, {during.Count(a => a.Code == 2)} answered code 2 and tried again");
            var throughSlow = Report("sends through the slow broker", during.Where(a => onSlow.Contains(a.From)));
            Report("sends through the other broker", during.Where(a => !onSlow.Contains(a.From)));
            Report("all sends", during);

            var silent = cluster.Logic.Sum(node => CountIn(cluster.Folder.Log(node.Name), "counts as silent"));
            output.WriteLine($"acknowledged {acknowledged} over the whole run, doubled {doubled}, lost 0, out of order 0; broker health checks failed (timed out) {silent}");

            Assert.Equal(0, doubled);
            // Through the slow broker a send crosses the link twice, at least 50 ms each way (less a little for the coarse clock
            // the relay holds bytes by), if it was answered before the delay was taken off: shows the delay was on the path.
            var fastest = during.Where(a => onSlow.Contains(a.From) && a.Code == 0 && a.AskedAt + a.Took < until).Min(a => a.Took);
            Assert.True(fastest >= TimeSpan.FromMilliseconds(90), $"fastest send through the slow broker {fastest.TotalMilliseconds:0} ms");
            // Generous: the target is well under a second.
            Assert.True(Percentile(throughSlow, 0.99) < TimeSpan.FromSeconds(5), $"p99 through the slow broker {Percentile(throughSlow, 0.99).TotalMilliseconds:0} ms");

            // No false death verdict: logic never took the broker for gone, nobody was taken for away, nobody's chat ended.
            Assert.All(cluster.Logic, node => Assert.Equal(0, CountIn(cluster.Folder.Log(node.Name), "has not answered for")));
            Assert.All(load.Visitors, v => Assert.DoesNotContain(v.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") is "PartnerAway" or "PartnerExit" or "NewSession"));
        }
        catch
        {
            output.WriteLine(cluster.Output);
            throw;
        }
    }

    /// <summary>Writes p50/p99/slowest send-to-acknowledgement of the acknowledged <paramref name="answers"/>; their times, fastest first.</summary>
    private List<TimeSpan> Report(string what, IEnumerable<ChatLoad.Answer> answers)
    {
        var taken = answers.Where(a => a.Code == 0).Select(a => a.Took).Order().ToList();
        Assert.NotEmpty(taken);
        output.WriteLine($"{what} ({taken.Count}): send to acknowledgement p50 {Percentile(taken, 0.5).TotalMilliseconds:0} ms, p99 {Percentile(taken, 0.99).TotalMilliseconds:0} ms, slowest {taken[^1].TotalMilliseconds:0} ms");
        return taken;
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double share) =>
        sorted[(int)Math.Min(sorted.Count - 1, Math.Max(0, Math.Ceiling(sorted.Count * share) - 1))];

    /// <summary>Lines of a node's log that say <paramref name="text"/> (the log is there from its start: a missing one throws).</summary>
    private static int CountIn(string log, string text) => File.ReadLines(log).Count(line => line.Contains(text, StringComparison.Ordinal));
}
