using System.Net.WebSockets;
using Chat.Logic.Moderation;
using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Moderation;

/// <summary>
/// REPORT_REQ over real sockets: it ends the chat as END_SESSION_REQ does, is kept with the session's
/// last messages, keeps the two apart, makes the reported address solve the challenge, and reports
/// from enough different visitors ban the address.
/// </summary>
public sealed class ReportTests
{
    private const string Reporter = "198.51.100.7";
    private const string Reported = "203.0.113.9";

    [Fact]
    public async Task A_report_ends_the_chat_the_partner_hears_only_partner_exit_and_the_report_keeps_the_last_messages()
    {
        await using var server = await LimitedServer.StartAsync();
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported, "bad"), server.VisitorAsync(Reporter, "good"));
        await using var _ = bad;
        await using var __ = good;
        for (var i = 0; i < 22; i++)
        {
            Assert.Equal(0, (await bad.SayAsync(sessionId, $"spam {i}")).Code());
        }

        var answer = await ReportAsync(good, sessionId, "spam", "kept sending links");
        Assert.Equal(0, answer.Code());
        Assert.Equal(sessionId, answer.ULong("sessionId"));

        var exit = await bad.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(sessionId, exit.ULong("sessionId"));
        await bad.BarrierAsync();
        Assert.DoesNotContain(bad.Snapshot(), f => f.Raw.Contains("REPORT", StringComparison.Ordinal) || f.Raw.Contains("spam\"", StringComparison.Ordinal));
        Assert.Equal(4, (await bad.SayAsync(sessionId, "still there?")).Code()); // the chat is over for both

        var report = Assert.Single(await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: true, 10, CancellationToken.None));
        Assert.Equal(sessionId, report.SessionId);
        Assert.Equal(good.AccountId, report.ReporterId);
        Assert.Equal(bad.AccountId, report.ReportedId);
        Assert.Equal("spam", report.Reason);
        Assert.Equal("kept sending links", report.Note);
        Assert.Equal(Enumerable.Range(2, 20).Select(i => $"spam {i}"), report.Evidence.Select(e => e.Content));
        Assert.All(report.Evidence, e => Assert.Equal(bad.AccountId, e.SenderId));

        // The addresses are kept as salted hashes: the same address, the same hash; never the address itself.
        Assert.StartsWith("h:", report.ReportedAddress, StringComparison.Ordinal);
        Assert.NotEqual(report.ReporterAddress, report.ReportedAddress);
        Assert.DoesNotContain(Reported, report.ReportedAddress, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Addresses_are_kept_plain_when_the_operator_turns_hashing_off()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Moderation:HashAddresses=false");
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported), server.VisitorAsync(Reporter));
        await using var _ = bad;
        await using var __ = good;
        Assert.Equal(0, (await ReportAsync(good, sessionId, "harassment")).Code());
        var report = Assert.Single(await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: false, 10, CancellationToken.None));
        Assert.Equal((Reporter, Reported), (report.ReporterAddress, report.ReportedAddress));
    }

    [Fact]
    public async Task A_bad_reason_a_long_note_or_someone_elses_session_is_refused_with_code_1()
    {
        await using var server = await LimitedServer.StartAsync();
        var (a, b, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported), server.VisitorAsync(Reporter));
        await using var _ = a;
        await using var __ = b;
        await using var stranger = await server.VisitorAsync("192.0.2.50");

        var badReason = await ReportAsync(b, sessionId, "rude");
        Assert.Equal(1, badReason.Code());
        Assert.Contains("spam, harassment, sexual, minor, other", badReason.String("msg"), StringComparison.Ordinal);
        Assert.Equal(1, (await ReportAsync(b, sessionId, "other", new string('x', 501))).Code());
        Assert.Equal(1, (await ReportAsync(stranger, sessionId, "spam")).Code());
        Assert.Equal(1, (await b.RequestAsync(new { cmd = "REPORT_REQ", sessionId }, "REPORT_RESP")).Code()); // no reason

        // None of them ended the chat.
        Assert.Equal(0, (await a.SayAsync(sessionId, "still here")).Code());
        Assert.Equal(0, (await ReportAsync(b, sessionId, "other", new string('x', 500))).Code());
    }

    [Fact]
    public async Task A_chat_the_partner_left_can_be_reported_for_ten_minutes_and_not_after()
    {
        await using var server = await LimitedServer.StartAsync();
        var (left, stays, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported), server.VisitorAsync(Reporter));
        await using var _ = stays;
        await left.CloseAsync();
        await stays.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        server.Clock.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(0, (await ReportAsync(stays, sessionId, "sexual")).Code());

        var (left2, stays2, later) = await Pairing.PairAsync(server.VisitorAsync("192.0.2.60"), server.VisitorAsync("192.0.2.61"));
        await using var ___ = stays2;
        await left2.CloseAsync();
        await stays2.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        server.Clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.Equal(4, (await ReportAsync(stays2, later, "sexual")).Code());
    }

    [Fact]
    public async Task The_two_are_not_matched_again_and_the_addresses_not_for_a_while()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Moderation:AvoidAddressesFor=00:10:00", "Chat:Matching:Shards=1"); // "who waited longest" of one pool
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported), server.VisitorAsync(Reporter));
        await using var __ = good;
        Assert.Equal(0, (await ReportAsync(good, sessionId, "harassment")).Code());

        Assert.Equal(4, (await MatchAsync(good)).Code()); // waits
        var solved = await SolveIfChallengedAsync(bad);
        Assert.Equal(4, solved.Code()); // waits too: the two are never paired
        await bad.CloseAsync();

        // A new account from the reported address is not paired with the reporter either, for a while (an hour by default).
        await using var again = await server.VisitorAsync(Reported, "again");
        Assert.Equal(4, (await SolveIfChallengedAsync(again)).Code());

        // Someone else is paired with the reporter, who waited longest.
        await using var other = await server.VisitorAsync("192.0.2.70", "other");
        var matched = await MatchAsync(other);
        Assert.Equal(0, matched.Code());
        Assert.Equal(good.AccountId, matched.ULong("partnerId"));

        // After that, the reported address may meet the reporter again (a new account of it).
        server.Clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.Equal(0, (await MatchAsync(good)).Code()); // paired with "again", who waited
    }

    [Fact]
    public async Task A_reported_address_must_solve_the_challenge_to_be_matched()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:Challenge:MaxNumber=2000", "Chat:Moderation:ChallengeReportedFor=00:10:00");
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Reported), server.VisitorAsync(Reporter));
        await using var _ = bad;
        await using var __ = good;
        Assert.Equal(0, (await ReportAsync(good, sessionId, "spam")).Code());

        var challenged = await MatchAsync(bad);
        Assert.Equal(6, challenged.Code());
        Assert.Contains("reported", challenged.String("msg"), StringComparison.Ordinal);
        Assert.Equal(4, (await MatchAsync(bad, AltchaSolver.Solve(challenged.Root.GetProperty("challenge")))).Code());
        Assert.Equal(4, (await MatchAsync(good)).Code()); // the reporter's own address is not challenged

        server.Clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        await using var later = await server.VisitorAsync(Reported, "later");
        Assert.NotEqual(6, (await MatchAsync(later)).Code());
    }

    [Fact]
    public async Task Reports_from_three_visitors_ban_the_address_its_sockets_close_with_4003_and_it_gets_code_7()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:Challenge:MaxNumber=2000");
        var bad = await server.VisitorAsync(Reported, "bad");
        await using var _ = bad;
        await using var idle = await server.VisitorAsync(Reported, "idle"); // another socket from there, in no chat
        for (var i = 0; i < 3; i++)
        {
            await using var reporter = await server.VisitorAsync($"192.0.2.{80 + i}", $"r{i}");
            var waiting = await SolveIfChallengedAsync(bad);
            ulong sessionId;
            if (waiting.Code() == 4)
            {
                var matched = await MatchAsync(reporter);
                Assert.Equal(0, matched.Code());
                sessionId = matched.ULong("sessionId");
            }
            else
            {
                Assert.Equal(0, waiting.Code());
                sessionId = waiting.ULong("sessionId");
            }

            Assert.Equal(0, (await ReportAsync(reporter, sessionId, "spam")).Code());
            await bad.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId);
        }

        server.Clock.Advance(TimeSpan.FromSeconds(1)); // the brokers' next read of the bans
        var refs = new List<string?>();
        foreach (var banned in new[] { bad, idle })
        {
            var notice = await banned.ExpectAsync("ERROR_RESP", f => f.Code() == 7);
            Assert.Contains("reported by 3 visitors", notice.String("msg"), StringComparison.Ordinal);
            Assert.StartsWith("B-", notice.String("ref"), StringComparison.Ordinal);
            refs.Add(notice.String("ref"));
            Assert.True(notice.Root.GetProperty("until").GetInt64() > server.Clock.GetUtcNow().ToUnixTimeMilliseconds());
            Assert.Equal((WebSocketCloseStatus)4003, await banned.Closed.WaitAsync(TestClient.Timeout));
        }

        await using var fresh = await server.ConnectAsync(Reported);
        var refused = await fresh.ExpectAsync("ERROR_RESP", f => f.Code() == 7); // a new socket from there is told, then closed
        Assert.Equal([refused.String("ref"), refused.String("ref")], refs);
        Assert.Equal((WebSocketCloseStatus)4003, await fresh.Closed.WaitAsync(TestClient.Timeout));

        var audit = await server.Server.Get<IModerationStore>().ListAuditAsync(10, CancellationToken.None);
        Assert.Contains(audit, e => e.Actor == "auto" && e.Action == "ban" && e.Target.Contains(Reported, StringComparison.Ordinal));
    }

    private static Task<Frame> ReportAsync(TestClient client, ulong sessionId, string reason, string? note = null) =>
        client.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason, note }, "REPORT_RESP");

    private static Task<Frame> MatchAsync(TestClient client, string? altcha = null) =>
        client.RequestAsync(new { cmd = "MATCH_REQ", altcha }, "MATCH_RESP");

    /// <summary>MATCH_REQ, solving the challenge first if the address must.</summary>
    private static async Task<Frame> SolveIfChallengedAsync(TestClient client)
    {
        var answer = await MatchAsync(client);
        return answer.Code() == 6 ? await MatchAsync(client, AltchaSolver.Solve(answer.Root.GetProperty("challenge"))) : answer;
    }
}
