using System.Diagnostics;
using System.Text.Json;
using Chat.Bench.Connections;
using Chat.Bench.Scenarios;

namespace Chat.Bench.Tests;

/// <summary>The crowd scenario's pieces that need no clock: its schedule, its frames, its arithmetic.</summary>
public sealed class CrowdTests
{
    [Fact]
    public void A_persons_gaps_average_the_mean_and_vary_as_a_Poisson_process_does()
    {
        var schedule = new PoissonSchedule(TimeSpan.FromSeconds(5), seed: 42);
        var gaps = Enumerable.Range(0, 100_000).Select(_ => (double)schedule.NextGap() / Stopwatch.Frequency).ToArray();

        var mean = gaps.Average();
        var deviation = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Length);
        Assert.InRange(mean, 4.95, 5.05);
        // Exponential gaps: the deviation equals the mean (a fixed rate would have none), and about
        // 1 - 1/e of the gaps are shorter than the mean.
        Assert.InRange(deviation / mean, 0.97, 1.03);
        Assert.InRange(gaps.Count(g => g < 5) / (double)gaps.Length, 0.625, 0.639);
        Assert.True(gaps.Min() < 0.01 && gaps.Max() > 40, "short bursts and long pauses both happen");
    }

    [Fact]
    public void The_same_seed_gives_the_same_schedule_and_each_lane_its_own()
    {
        long[] Dues(SendSchedule s)
        {
            var due = s.First(0, startAt: 1000);
            return [due, .. Enumerable.Range(0, 9).Select(_ => due = s.Next(due))];
        }

        var schedule = new PoissonSchedule(TimeSpan.FromSeconds(5), seed: 7);
        Assert.Equal(Dues(schedule.ForLane(0)), Dues(new PoissonSchedule(TimeSpan.FromSeconds(5), seed: 7).ForLane(0)));
        Assert.NotEqual(Dues(schedule.ForLane(0)), Dues(schedule.ForLane(1)));
        var dues = Dues(schedule.ForLane(3));
        Assert.True(dues.Zip(dues.Skip(1)).All(d => d.Second > d.First), "each message after the one before");
    }

    [Fact]
    public void A_fixed_rate_spreads_first_messages_over_one_period_then_keeps_the_period()
    {
        var schedule = new FixedRateSchedule(perSecond: 10);
        var period = Stopwatch.Frequency / 10;

        var firsts = Enumerable.Range(0, 1000).Select(i => schedule.First(i, startAt: 0)).ToArray();

        Assert.All(firsts, f => Assert.InRange(f, 0, period - 1));
        Assert.Equal(1000, firsts.Distinct().Count());
        Assert.Equal(firsts[5] + period, schedule.Next(firsts[5]));
    }

    [Fact]
    public void The_figures_divide_the_whole_cost_by_visitors_messages_and_time()
    {
        // 4,000 visitors for 30 s, 24,000 messages (800 msg/s), 18.78 s of CPU (62.6 % of a core),
        // RSS from 100 MiB to 176 MiB.
        var f = CrowdFigures.Of(visitors: 4000, seconds: 30, messages: 24_000, cpuSeconds: 18.78,
            rssBeforeBytes: 100L << 20, rssEndBytes: 176L << 20)!;

        Assert.Equal(800, f.MessagesPerSecond);
        Assert.Equal(0.626, f.CoreShare);
        Assert.Equal(15.65, f.PercentOfCorePer1000Visitors);
        Assert.Equal(782.5, f.CpuMicrosPerMessage);
        Assert.Equal(19.46, f.KiBPerVisitor);
        // 1,000 / 0.1565 of a core per 1,000 visitors.
        Assert.Equal(6390, f.VisitorsPerCore);
        Assert.Null(CrowdFigures.Of(visitors: 0, seconds: 30, messages: 1, cpuSeconds: 1, rssBeforeBytes: 0, rssEndBytes: 0));
    }

    [Fact]
    public void The_page_frames_are_the_web_clients()
    {
        var buffer = new byte[ClientFrames.AckCapacity];

        var confirm = Parse(buffer, ClientFrames.WritePushDialogueResp(buffer, sessionId: ulong.MaxValue, msgId: ulong.MaxValue - 1));
        Assert.Equal("PUSH_DIALOGUE_RESP", confirm.GetProperty("cmd").GetString());
        Assert.Equal(0, confirm.GetProperty("code").GetInt32());
        Assert.Equal((ulong.MaxValue, ulong.MaxValue - 1), (confirm.GetProperty("sessionId").GetUInt64(), confirm.GetProperty("msgId").GetUInt64()));

        var read = Parse(buffer, ClientFrames.WriteViewedAck(buffer, sessionId: ulong.MaxValue, accountId: ulong.MaxValue, msgId: ulong.MaxValue));
        Assert.Equal("VIEWED_ACK_REQ", read.GetProperty("cmd").GetString());
        Assert.Equal(ulong.MaxValue, read.GetProperty("accountId").GetUInt64());

        using var typing = JsonDocument.Parse(ClientFrames.Typing(12));
        Assert.Equal(("TYPING_REQ", 12UL), (typing.RootElement.GetProperty("cmd").GetString(), typing.RootElement.GetProperty("sessionId").GetUInt64()));
        using var account = JsonDocument.Parse(ClientFrames.CreateAccount("v1", confirmReceipt: true));
        Assert.True(account.RootElement.GetProperty("confirmReceipt").GetBoolean());
    }

    [Theory]
    [InlineData("""{"cmd":"VIEWED_ACK_RESP","code":0}""", ServerCommand.ViewedAckResp, SignalKind.Other)]
    [InlineData("""{"cmd":"PUSH_VIEWED_ACK_REQ","sessionId":3,"accountId":4,"msgId":5}""", ServerCommand.PushViewedAck, SignalKind.Other)]
    [InlineData("""{"cmd":"PUSH_SIGNAL_REQ","senderId":4,"sessionId":3,"receiverId":5,"signalType":"Typing","data":{"accountId":4}}""", ServerCommand.PushSignal, SignalKind.Typing)]
    public void The_servers_answers_to_a_page_are_told_apart(string json, ServerCommand command, SignalKind signal)
    {
        Assert.True(ServerFrame.TryRead(System.Text.Encoding.UTF8.GetBytes(json), out var frame));
        Assert.Equal((command, signal), (frame.Command, frame.Signal));
    }

    private static JsonElement Parse(byte[] buffer, int length) => JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
}
