using Chat.Logic.Moderation;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Abuse;

/// <summary>
/// An attacker's view of REPORT_REQ and the auto-ban, over real sockets: what one person with a
/// couple of addresses can make the service do to an innocent visitor.
/// </summary>
public sealed class ModerationAttackTests
{
    private const string Victim = "203.0.113.9";
    private const string Chatted = "198.51.100.10";
    private const string Reporting = "198.51.100.99";

    [Fact]
    public async Task A_reporter_who_moved_to_another_address_is_still_kept_apart_from_the_reported_at_the_address_it_chatted_from()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:Challenge:MaxNumber=2000");
        await using var victim = await server.VisitorAsync(Victim, "victim");
        var (reporter, sessionId) = await ChatWithAsync(server, victim, Chatted, "r0");
        await reporter.CloseAsync();
        await victim.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId);
        await using var moved = await ReportFromAsync(server, reporter, Reporting, sessionId);

        // A new account at the address the chat was had from is not paired with the reported visitor.
        Assert.Equal(4, (await SolveIfChallengedAsync(victim)).Code());
        await using var again = await server.VisitorAsync(Chatted, "r1");
        Assert.Equal(4, (await MatchAsync(again)).Code());
    }

    [Fact]
    public async Task Reports_from_many_accounts_that_report_from_one_address_count_once_towards_the_auto_ban()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:Challenge:MaxNumber=2000");
        await using var victim = await server.VisitorAsync(Victim, "victim");
        for (var i = 0; i < 3; i++)
        {
            // Each chat from another address (a reported pair's addresses are kept apart), each report from the same one.
            var (reporter, sessionId) = await ChatWithAsync(server, victim, $"198.51.100.{20 + i}", $"r{i}");
            await reporter.CloseAsync();
            await victim.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId);
            await using var moved = await ReportFromAsync(server, reporter, Reporting, sessionId);
        }

        Assert.Equal(3, (await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: true, 10, CancellationToken.None)).Count);
        server.Clock.Advance(TimeSpan.FromSeconds(1)); // past the brokers' next read of the bans
        Assert.Empty((await server.Server.Get<ModerationDesk>().BansAsync()).Bans);
        await using var fresh = await server.ConnectAsync(Victim);
        Assert.Equal(0, (await fresh.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName = "fresh" }, "CRT_ACCOUNT_RESP")).Code());
        Assert.Equal(0, (await victim.RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP")).Code()); // still open
    }

    [Fact]
    public async Task One_address_files_at_most_its_reports_an_hour_then_gets_code_5_its_chat_ends_and_nothing_is_kept()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:ReportsPerHour=3");
        await using var reporter = await server.VisitorAsync(Reporting, "reporter");
        for (var i = 0; i < 4; i++)
        {
            await using var partner = await server.VisitorAsync($"192.0.2.{100 + i}", $"p{i}");
            var (_, sessionId) = await ChatWithAsync(partner, reporter);
            var answer = await ReportAsync(reporter, sessionId, "spam");
            if (i < 3)
            {
                Assert.Equal(0, answer.Code());
                continue;
            }

            Assert.Equal(5, answer.Code());
            Assert.Contains("reports", answer.String("msg"), StringComparison.Ordinal);
            Assert.True(answer.Root.GetProperty("retryAfter").GetInt32() > 0);
            Assert.Contains("not kept", answer.String("msg"), StringComparison.Ordinal);
            await partner.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId);
        }

        Assert.Equal(3, (await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: true, 10, CancellationToken.None)).Count);
        Assert.Contains("kind=\"reports\"", await server.MetricsAsync(), StringComparison.Ordinal);

        // Another address reports as usual, and this one again once the hour has refilled its allowance.
        await using var other = await server.VisitorAsync("198.51.100.200", "other");
        await using var next = await server.VisitorAsync("192.0.2.120", "next");
        var (_, otherSession) = await ChatWithAsync(next, other);
        Assert.Equal(0, (await ReportAsync(other, otherSession, "other")).Code());
        server.Clock.Advance(TimeSpan.FromMinutes(20));
        await using var last = await server.VisitorAsync("192.0.2.121", "last");
        var (_, lastSession) = await ChatWithAsync(last, reporter);
        Assert.Equal(0, (await ReportAsync(reporter, lastSession, "spam")).Code());
    }

    [Fact]
    public async Task Odd_reasons_are_refused_and_a_note_is_counted_in_characters_kept_whole_and_reported_once()
    {
        await using var server = await LimitedServer.StartAsync();
        await using var victim = await server.VisitorAsync(Victim, "victim");
        var (reporter, sessionId) = await ChatWithAsync(server, victim, Chatted, "reporter");
        await using var _ = reporter;
        foreach (var reason in new[] { "SPAM", "Spam", "spam ", " spam", "spam\u0000", "spаm", "" })
        {
            Assert.Equal(1, (await ReportAsync(reporter, sessionId, reason)).Code());
        }

        var emoji = string.Concat(Enumerable.Repeat("😀", 501));
        Assert.Equal(1, (await ReportAsync(reporter, sessionId, "other", emoji)).Code());
        Assert.Equal(0, (await victim.SayAsync(sessionId, "not ended by a refused report")).Code());

        var note = "\u0001\u001b[31m<b>bold</b>\u202E" + string.Concat(Enumerable.Repeat("😀", 482));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await ReportAsync(reporter, sessionId, "other", note)).Code());
        }

        var report = Assert.Single(await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: true, 10, CancellationToken.None));
        Assert.Equal(note, report.Note);
    }

    private static Task<Frame> ReportAsync(TestClient client, ulong sessionId, string reason, string? note = null) =>
        client.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason, note }, "REPORT_RESP");

    /// <summary>A new visitor at <paramref name="address"/> in a chat with <paramref name="partner"/> (who solves the challenge if it must).</summary>
    private static async Task<(TestClient Client, ulong SessionId)> ChatWithAsync(LimitedServer server, TestClient partner, string address, string nickName) =>
        await ChatWithAsync(partner, await server.VisitorAsync(address, nickName));

    /// <summary><paramref name="client"/> in a chat with <paramref name="partner"/>, who waited (solving the challenge if it must).</summary>
    private static async Task<(TestClient Client, ulong SessionId)> ChatWithAsync(TestClient partner, TestClient client)
    {
        Assert.Equal(4, (await SolveIfChallengedAsync(partner)).Code());
        var matched = await MatchAsync(client);
        Assert.Equal(0, matched.Code());
        await partner.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession" && f.ULong("sessionId") == matched.ULong("sessionId"));
        return (client, matched.ULong("sessionId"));
    }

    /// <summary>The account of <paramref name="client"/> on a new socket from <paramref name="address"/>, reporting <paramref name="sessionId"/>.</summary>
    private static async Task<TestClient> ReportFromAsync(LimitedServer server, TestClient client, string address, ulong sessionId)
    {
        var moved = await server.ConnectAsync(address);
        moved.Adopt(client.AccountId, client.Token);
        Assert.Equal(0, (await moved.ReconnectAsync()).Code());
        Assert.Equal(0, (await ReportAsync(moved, sessionId, "spam")).Code());
        return moved;
    }

    private static Task<Frame> MatchAsync(TestClient client, string? altcha = null) =>
        client.RequestAsync(new { cmd = "MATCH_REQ", altcha }, "MATCH_RESP");

    private static async Task<Frame> SolveIfChallengedAsync(TestClient client)
    {
        var answer = await MatchAsync(client);
        return answer.Code() == 6 ? await MatchAsync(client, AltchaSolver.Solve(answer.Root.GetProperty("challenge"))) : answer;
    }
}
