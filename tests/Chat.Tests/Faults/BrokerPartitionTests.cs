using Chat.Testing.Faults;
using Chat.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Chat.Tests.Faults;

/// <summary>
/// A broker cut off from logic (its link down: no logic node, no etcd) while its visitors' sockets stay open
/// and every pair chats on. Its visitors hear code 2 with a reason for what they send during the cut; their
/// partners hear PartnerAway once logic takes the broker for gone. Healed before the grace period runs out,
/// the broker reclaims its accounts and the chats go on with nothing acknowledged lost or doubled; healed
/// after, the chats have ended (PartnerExit) and the same accounts and sockets chat again.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class BrokerPartitionTests(ITestOutputHelper output)
{
    private const int Pairs = 4;
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    // PartnerAway is pushed the moment logic takes the broker for gone; its way to the partner (a grain call, a gRPC push,
    // a WebSocket frame) takes milliseconds. A second of allowance makes the bound one on behaviour, not on speed.
    private static readonly TimeSpan Delivery = TimeSpan.FromSeconds(1);

    [SkippableTheory]
    [InlineData(5)]
    [InlineData(20)] // past BrokerDeadAfter (10 s): the partners hear PartnerAway, the broker reclaims its accounts on its return
    [InlineData(60)] // past BrokerDeadAfter and the grace period (30 s): the chats end, the accounts and sockets go on
    public async Task Partition_of_a_broker_from_logic_loses_no_acknowledged_message_pairs_no_one_twice_and_keeps_accounts(int seconds)
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);
        var cut = TimeSpan.FromSeconds(seconds);
        var deadAfter = TimeSpan.FromSeconds(10); // Chat:Logic:BrokerDeadAfter's default
        var graceEnds = cut > TimeSpan.FromSeconds(40); // the grace period (30 s) and BrokerDeadAfter (10 s) have passed
        await using var faults = await FaultCluster.StartAsync(logicNodes: 2, brokers: 2);
        var cluster = faults.Cluster;
        var (cutOff, other) = (cluster.Brokers[0], cluster.Brokers[1]);
        try
        {
            // Everyone talks all along: each sender retries a message (same requestId) until it is acknowledged.
            await using var load = await ChatLoad.StartAsync(cutOff, other, Pairs);
            var pairs = load.Pairs;
            if (graceEnds)
            {
                // Cut after logic has heard the broker answer (it checks every 3 s, at the next sweep, each check waiting
                // at most 2 s): the broker's silence counts from its last answer. The 20 s cut comes at once, about a
                // second after its visitors arrived, usually before logic's first check of it: its silence counts from
                // when logic learned of it (the read of the store that first listed it, or the one before).
                await Task.Delay(TimeSpan.FromSeconds(5)); // the moment of the fault, not a wait for an event
            }

            var cutAt = load.Now;
            await faults.Network.CutAsync(faults.HostOf(cutOff));

            // The partners hear that the cut-off visitors are away once logic takes the broker for gone: BrokerDeadAfter
            // after its last answer (or after logic learned of it), which was before the cut.
            var away = cut > deadAfter
                ? pairs.Select(async p =>
                {
                    await p.B.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway" && f.ULong("sessionId") == p.SessionId, Generous);
                    return load.Now - cutAt;
                }).ToList()
                : [];
            await Task.Delay(cut); // the partition's length is the fault itself, not a wait for an event
            await faults.Network.HealAsync(faults.HostOf(cutOff));
            var healedAt = load.Now;
            output.WriteLine($"cut for {(healedAt - cutAt).TotalSeconds:0.0} s");
            if (away.Count > 0)
            {
                var heard = await Task.WhenAll(away);
                output.WriteLine($"partners heard PartnerAway {heard.Min().TotalSeconds:0.00}-{heard.Max().TotalSeconds:0.00} s into the cut");
                foreach (var verdict in cluster.Output.Split('\n').Where(line => line.Contains("has not answered for", StringComparison.Ordinal)))
                {
                    output.WriteLine(verdict.Trim());
                }

                Assert.All(heard, h => Assert.True(h <= deadAfter + Delivery, $"PartnerAway {h.TotalSeconds:0.00} s into the cut, not within BrokerDeadAfter ({deadAfter.TotalSeconds:0} s) and {Delivery.TotalSeconds:0} s for its delivery"));
            }

            // During the cut every send was answered within 6 s, not left in silence: refused with a reason (code 2 and a
            // msg), or taken once the link was back (a call sent before the heal may get through TCP's retransmissions).
            var during = load.Answers.Where(a => a.AskedAt > cutAt && a.AskedAt < healedAt).ToList();
            Assert.All(during.Where(a => a.Code == 2), r => Assert.False(string.IsNullOrEmpty(r.Msg), "code 2 without a msg"));
            var slowest = load.Answers.Max(a => a.Took);
            output.WriteLine($"{during.Count(a => a.Code == 2)} sends refused during the cut, the slowest send answered in {slowest.TotalSeconds:0.0} s");
            foreach (var slow in load.Answers.Where(a => a.Took > TimeSpan.FromSeconds(5.5)).OrderBy(a => a.AskedAt))
            {
                output.WriteLine($"slow: account {slow.From} asked at {slow.AskedAt.TotalSeconds:0.0} s, answered code {slow.Code} after {slow.Took.TotalSeconds:0.0} s ({slow.Msg})");
            }

            Assert.True(slowest < TimeSpan.FromSeconds(6), $"a send took {slowest.TotalSeconds:0.0} s to be answered");

            if (!graceEnds)
            {
                // Healed in time: the chats go on; what was acknowledged reaches the partner once each, in order.
                var again = await load.UntilEachHasAsync(3, "three more messages each after healing");
                output.WriteLine($"every sender acknowledged again {again.TotalSeconds:0.0} s after healing");
                await load.StopAndCheckDeliveredAsync();
                var (acknowledged, doubled) = load.Totals();
                output.WriteLine($"acknowledged {acknowledged}, doubled {doubled}, lost 0");
                Assert.Equal(0, doubled);
                foreach (var (_, b, sessionId) in pairs)
                {
                    var signals = b.TakeAll("PUSH_SIGNAL_REQ");
                    Assert.DoesNotContain(signals, f => f.String("signalType") is "PartnerExit" or "NewSession");
                    if (cut > deadAfter)
                    {
                        // The broker's return reclaimed the partner's account: it is back on its socket.
                        Assert.Contains(signals, f => f.String("signalType") == "PartnerBack" && f.ULong("sessionId") == sessionId);
                    }
                }
            }
            else
            {
                // Healed too late: every chat has ended for both sides (PartnerExit to the partner).
                foreach (var (_, b, sessionId) in pairs)
                {
                    await b.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId, Generous);
                }

                await load.StopAsync();

                // What the cut-off visitors had acknowledged reached their partners, all of it in order. What the partners sent
                // while the cut-off visitors were away is in the history; the session ended before they came back for it.
                var (acknowledged, doubled) = load.Totals();
                var inHistoryOnly = 0;
                foreach (var (a, b, _) in pairs)
                {
                    Assert.Equal(load.AcknowledgedBy(a).Count, await ChatLoad.ReceivedBeginningOfAsync(b, load.AcknowledgedBy(a)));
                    inHistoryOnly += load.AcknowledgedBy(b).Count - await ChatLoad.ReceivedBeginningOfAsync(a, load.AcknowledgedBy(b));
                }

                output.WriteLine($"acknowledged {acknowledged}, doubled {doubled}, lost 0; {inHistoryOnly} sent to an away visitor whose chat then ended (in the history)");
                Assert.Equal(0, doubled);

                Assert.All(load.Visitors, v => Assert.DoesNotContain(v.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") == "NewSession"));

                // The same accounts on the same sockets are paired again and talk: no one made a new account. Each meets the
                // next pair's partner, since two who just chatted are not paired again within Chat:Matching:RematchAfter.
                for (var i = 0; i < pairs.Count; i++)
                {
                    var (a, b) = (pairs[i].A, pairs[(i + 1) % pairs.Count].B);
                    var again = await Pairing.PairAsync(Task.FromResult(a), Task.FromResult(b));
                    Assert.DoesNotContain(pairs, p => p.SessionId == again.SessionId);
                    var said = await a.SayAsync(again.SessionId, "after the partition", "again-1");
                    Assert.Equal(0, said.Code());
                    Assert.Equal("after the partition", (await b.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("sessionId") == again.SessionId, Generous)).String("content"));
                    Assert.Equal(0, (await a.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId = again.SessionId }, "END_SESSION_RESP")).Code());
                    _ = b.TakeAll("PUSH_SIGNAL_REQ");
                    _ = a.TakeAll("PUSH_SIGNAL_REQ");
                }

                output.WriteLine($"paired and talking again {(load.Now - healedAt).TotalSeconds:0.0} s after healing");
                return; // each was paired again on purpose
            }

            // No one was paired with anyone else meanwhile.
            Assert.All(load.Visitors, v => Assert.DoesNotContain(v.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") == "NewSession"));
        }
        catch
        {
            output.WriteLine(cluster.Output);
            throw;
        }
    }
}
