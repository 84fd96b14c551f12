using System.Text;
using Chat.Bench.Scenarios;

namespace Chat.Bench.Reporting;

/// <summary>The human-readable summary of each scenario's result.</summary>
public static class Summary
{
    public static string Of(ChatResult r)
    {
        var text = new StringBuilder();
        text.AppendLine($"chat: {r.Visitors / 2} pairs, {r.Mode}");
        text.AppendLine($"  setup (connect, account, match): {r.SetupSeconds:0.###} s");
        text.AppendLine($"  measured: {r.MeasuredSeconds:0.###} s, {r.DeliveredMeasured} messages, {r.MessagesPerSecond:0.#} msg/s delivered");
        text.AppendLine($"  end-to-end: {r.EndToEnd}");
        if (r.EndToEndMaxBySecond.Length > 1)
        {
            text.AppendLine($"  end-to-end max by second sent (ms): {string.Join(' ', r.EndToEndMaxBySecond)}");
        }

        text.AppendLine($"  ack:        {r.Ack}");
        text.AppendLine($"  sent {r.Sent}, accepted {r.AckedOk}, delivered {r.Delivered}, rejected {Codes(r.RejectedByCode)}");
        if (!r.Settled)
        {
            text.AppendLine($"  NOT SETTLED: the drain ended with {r.Unanswered} sends unanswered and accepted messages still on their way (the server is behind); 'lost' below counts those too");
        }

        text.AppendLine($"  lost {r.Lost}, duplicated {r.Duplicated}, out of order {r.OutOfOrder}, misrouted {r.Misrouted}, msgId regressions {r.MsgIdRegressions}, unpaired {r.Unpaired}");
        text.AppendLine($"  unexpected frames {r.Unexpected}, PartnerExit signals {r.PartnerExits}, sockets closed early {r.Disconnected}");
        text.AppendLine($"  sends refused and sent again {r.Retried} ({r.LateAfterRetry} of them arrived after later ones, in the server's order); longest silence in a chat {r.LongestSilenceSeconds:0.###} s");
        if (r.Server is { } s)
        {
            text.AppendLine($"  server: {s.CpuSeconds:0.###} s CPU, {s.CpuMicrosPerMessage:0.##} µs CPU/msg, RSS {Mb(s.RssStartBytes)} → {Mb(s.RssEndBytes)} MiB");
        }

        if (r.Store is { } d)
        {
            text.AppendLine($"  store process: {d.CpuSeconds:0.###} s CPU, {d.CpuMicrosPerMessage:0.##} µs CPU/msg, RSS {Mb(d.RssStartBytes)} → {Mb(d.RssEndBytes)} MiB");
        }

        text.AppendLine($"  bench: {r.BenchCpuMicrosPerMessage:0.##} µs CPU/msg, {r.BenchAllocatedBytesPerMessage:0.#} B allocated/msg");
        text.Append(r.Clean && r.AllDelivered ? "  OK: every message delivered once, in order, to the right partner"
            : r.Clean ? "  OK: nothing lost, duplicated, reordered or misrouted (some messages were rejected)" : "  FAILED: see the counts above");
        return text.ToString();
    }

    public static string Of(CrowdResult r)
    {
        var text = new StringBuilder();
        var c = r.Chat;
        text.AppendLine($"crowd: {c.Visitors} visitors in pairs, a message every {r.MeanIntervalSeconds:0.###} s on average each (Poisson), typing {r.TypingLeadSeconds:0.###} s before");
        if (r.Figures is { } f)
        {
            text.AppendLine($"  server (all processes): {f.CpuSeconds:0.###} s CPU in {f.Seconds:0.###} s = {100 * f.CoreShare:0.##} % of a core; {f.PercentOfCorePer1000Visitors:0.##} % of a core per 1,000 visitors");
            text.AppendLine($"  per chat message (the whole visit's cost / {f.Messages} messages, {f.MessagesPerSecond:0.#} msg/s): {f.CpuMicrosPerMessage:0.#} µs CPU");
            text.AppendLine($"  RSS added per visitor: {f.KiBPerVisitor:0.##} KiB; visitors per core at this pace: {f.VisitorsPerCore:0}");
        }

        text.AppendLine($"  end-to-end p50 {c.EndToEnd.P50:0.###} ms, p99 {c.EndToEnd.P99:0.###} ms; ack p50 {c.Ack.P50:0.###} ms, p99 {c.Ack.P99:0.###} ms");
        var p = c.Frames;
        text.AppendLine($"  frames besides messages (whole run): typing sent {p.TypingSent}, typing signals got {p.TypingSignals}, pushes confirmed {p.PushesConfirmed}, read receipts sent {p.ViewedAcksSent} (ok {p.ViewedAcksOk}, refused {p.ViewedAcksRefused}), got {p.ReadReceipts}, pings answered {p.PingsAnswered}");
        text.Append(Of(c));
        return text.ToString();
    }

    public static string Of(IdleResult r) =>
        $"""
        idle: {r.Connections} connections with accounts, held {r.HeldSeconds:0.#} s
          setup: {r.SetupSeconds:0.###} s; open at the end: {r.OpenAtEnd}
          server RSS {Mb(r.ServerRssBeforeBytes)} → {Mb(r.ServerRssAfterBytes)} MiB: {r.ServerBytesPerConnection / 1024:0.##} KiB per connection
          server CPU while held: {r.ServerCpuSecondsWhileHeld:0.###} s; bench RSS {Mb(r.BenchRssBytes)} MiB
        """;

    public static string Of(MatchStormResult r) =>
        $"""
        match-storm: {r.Visitors} visitors{(r.Warmup > 0 ? $" (after an unmeasured storm of {r.Warmup}, paired in {r.WarmupPairAllSeconds:0.###} s)" : " (the server's first storm)")}
          arrive (connect + account): {r.ArriveSeconds:0.###} s
          time to pair all: {r.PairAllSeconds:0.###} s; per visitor: {r.TimeToPair}
          paired {r.Paired}, unpaired {r.Unpaired}, paired more than once {r.PairedMoreThanOnce}, partners disagree {r.PartnersDisagree}, sessions {r.Sessions}
          {(r.Interests > 0 ? $"interests: {r.Interests} each (Zipf); sessions sharing none (paired by the fallback): {r.SessionsByFallback}" : "no interests asked for")}
          server CPU: {r.Server?.CpuSeconds ?? 0:0.###} s
          {(r.Clean ? "OK: every visitor paired exactly once, partners agree" : "FAILED: see the counts above")}
        """;

    public static string Of(ResumeResult r) =>
        $"""
        resume: {r.Pairs} pairs, {r.Dropped} sockets dropped without a close frame
          reconnected {r.Reconnected} (codes {Codes(r.ReconnectCodes)}); reconnect: {r.ReconnectTime}
          sent to them while away (accepted): {r.SentWhileAway}; of those delivered after RECONNECT: {r.Replayed}
          rejected sends {Codes(r.RejectedByCode)}; PartnerExit signals {r.PartnerExits}
          sent {r.Sent}, accepted {r.AckedOk}, delivered {r.Delivered}; lost {r.Lost}, duplicated {r.Duplicated}, out of order {r.OutOfOrder}, misrouted {r.Misrouted}
          lost to the dropped visitors: sent before the drop {r.LostSentBeforeDrop}, while away {r.LostSentWhileAway}, after reconnect {r.LostSentAfterReconnect}; lost from them {r.LostFromDropped}
          end-to-end: {r.EndToEnd}
        """;

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("0.#");

    private static string Codes(Dictionary<string, long> codes) =>
        codes.Count == 0 ? "none" : string.Join(", ", codes.OrderBy(c => c.Key).Select(c => $"code {c.Key}: {c.Value}"));
}
