using Chat.Logic.Moderation;
using Chat.Logic.Storage;
using Chat.Protocol.Seams;

namespace Chat.Tests.Storage;

/// <summary>
/// What every store keeps for moderation (<see cref="IModerationStore"/>), on every engine the contract
/// runs on: reports with their evidence, bans in force and lifted, the audit log, and their retention.
/// The operator's page and API, the brokers' ban checks and the sweeper read exactly these.
/// </summary>
public abstract partial class StoreContractTests
{
    private static ReportRecord Report(string id, ulong session, ulong reporter, ulong reported, long at) => new(
        id, session, reporter, reported, $"h:{reporter:x}", null, "spam", reporter == Alice ? "sent \"links\" ✉️ <b>x</b>" : null,
        [new EvidenceLine(70, reported, "buy now — 100% ✓ <script>", 9_000), new EvidenceLine(71, reporter, "no thanks", 9_100)], at);

    private static BanRecord Ban(string id, BanTarget target, string value, long at, long until) => new(id, target, value, $"reason of {id}", at, "alice", until);

    [Fact]
    public async Task A_report_is_kept_with_its_evidence_once_per_reporter_and_session_and_read_again_after_a_reopen()
    {
        await using var store = await OpenAsync();
        var moderation = (IModerationStore)store;
        var first = Report("R-1", Talk, Alice, Bob, 20_000);

        Assert.True(await moderation.AddReportAsync(first, None));
        Assert.False(await moderation.AddReportAsync(Report("R-2", Talk, Alice, Bob, 20_500) with { Reason = "other" }, None));
        Assert.True(await moderation.AddReportAsync(Report("R-3", Talk, Carol, Bob, 21_000), None)); // another reporter of the same chat

        await using var again = await OpenAgainAsync();
        var found = await ((IModerationStore)again).FindReportAsync("R-1", None);
        Assert.NotNull(found);
        Assert.Equal(first with { Evidence = [] }, found with { Evidence = [] });
        Assert.Equal(first.Evidence, found.Evidence);
        Assert.Null(await ((IModerationStore)again).FindReportAsync("R-2", None));
        Assert.Null((await ((IModerationStore)again).FindReportAsync("R-3", None))?.Note);
    }

    [Fact]
    public async Task Reports_are_listed_newest_first_closed_once_and_only_open_ones_unless_all_are_asked_for()
    {
        await using var store = await OpenAsync();
        var moderation = (IModerationStore)store;
        await moderation.AddReportAsync(Report("R-old", Talk, Alice, Bob, 20_000), None);
        await moderation.AddReportAsync(Report("R-mid", Other, Carol, Dave, 21_000), None);
        await moderation.AddReportAsync(Report("R-new", Third, Erin, Alice, 22_000), None);

        Assert.Equal(["R-new", "R-mid", "R-old"], (await moderation.ListReportsAsync(openOnly: true, 10, None)).Select(r => r.Id));
        Assert.Equal(["R-new", "R-mid"], (await moderation.ListReportsAsync(openOnly: true, 2, None)).Select(r => r.Id));

        Assert.True(await moderation.CloseReportAsync("R-mid", 23_000, "bob-the-operator", None));
        Assert.False(await moderation.CloseReportAsync("R-mid", 24_000, "someone-else", None));
        Assert.False(await moderation.CloseReportAsync("R-none", 24_000, "someone-else", None));

        Assert.Equal(["R-new", "R-old"], (await moderation.ListReportsAsync(openOnly: true, 10, None)).Select(r => r.Id));
        var all = await moderation.ListReportsAsync(openOnly: false, 10, None);
        Assert.Equal(["R-new", "R-mid", "R-old"], all.Select(r => r.Id));
        var closed = all[1];
        Assert.Equal(23_000, closed.ClosedAtUnixMs);
        Assert.Equal("bob-the-operator", closed.ClosedBy);
    }

    [Fact]
    public async Task A_ban_is_in_force_until_it_ends_or_is_lifted_once_and_survives_a_reopen()
    {
        await using var store = await OpenAsync();
        var moderation = (IModerationStore)store;
        var account = Ban("B-1", BanTarget.Account, "42", 1_000, 10_000);
        var address = Ban("B-2", BanTarget.Address, "2001:db8:1:2::/64", 2_000, 50_000);
        var lifted = Ban("B-3", BanTarget.Address, "203.0.113.9", 3_000, 50_000);
        foreach (var ban in new[] { address, lifted, account })
        {
            await moderation.AddBanAsync(ban, None);
        }

        Assert.Equal([account, address, lifted], await moderation.LoadBansAsync(5_000, None)); // oldest first
        Assert.True(await moderation.LiftBanAsync("B-3", 6_000, "carol", None));
        Assert.False(await moderation.LiftBanAsync("B-3", 6_500, "carol", None));
        Assert.False(await moderation.LiftBanAsync("B-1", 10_000, "carol", None)); // ran out: nothing to lift
        Assert.False(await moderation.LiftBanAsync("B-none", 6_500, "carol", None));

        await using var again = await OpenAgainAsync();
        var reopened = (IModerationStore)again;
        Assert.Equal([account, address], await reopened.LoadBansAsync(9_999, None));
        Assert.Equal([address], await reopened.LoadBansAsync(10_000, None)); // its end is exclusive
        Assert.Empty(await reopened.LoadBansAsync(50_000, None));
    }

    [Fact]
    public async Task The_audit_log_is_read_newest_first_and_at_most_as_many_as_asked()
    {
        await using var store = await OpenAsync();
        var moderation = (IModerationStore)store;
        var entries = new[]
        {
            new AuditEntry(1_000, "alice", AuditActions.Ban, "account 42 (B-1)", "threats"),
            new AuditEntry(2_000, "auto", AuditActions.Ban, "address h:ab (B-2)", "3 reports in 1:00:00"),
            new AuditEntry(3_000, "bob", AuditActions.Unban, "B-1", "appeal ✓"),
            new AuditEntry(4_000, "bob", AuditActions.CloseReport, "R-1", "dealt with"),
        };
        foreach (var entry in entries)
        {
            await moderation.AddAuditAsync(entry, None);
        }

        Assert.Equal(entries.Reverse(), await moderation.ListAuditAsync(10, None));
        Assert.Equal([entries[3], entries[2]], await moderation.ListAuditAsync(2, None));
    }

    [Fact]
    public async Task Retention_deletes_old_reports_and_audit_entries_and_ended_bans_but_keeps_a_ban_still_in_force()
    {
        await using var store = await OpenAsync();
        var moderation = (IModerationStore)store;
        await moderation.AddReportAsync(Report("R-old", Talk, Alice, Bob, 1_000), None);
        await moderation.AddReportAsync(Report("R-new", Other, Carol, Dave, 9_000), None);
        await moderation.AddAuditAsync(new AuditEntry(1_000, "alice", AuditActions.Ban, "x", "old"), None);
        await moderation.AddAuditAsync(new AuditEntry(9_000, "alice", AuditActions.Ban, "y", "new"), None);
        await moderation.AddBanAsync(Ban("B-ran-out", BanTarget.Account, "1", 1_000, 4_000), None);
        await moderation.AddBanAsync(Ban("B-lifted", BanTarget.Account, "2", 1_000, 90_000), None);
        await moderation.AddBanAsync(Ban("B-long", BanTarget.Account, "3", 1_000, 90_000), None);
        await moderation.AddBanAsync(Ban("B-ended-late", BanTarget.Account, "4", 1_000, 6_000), None);
        Assert.True(await moderation.LiftBanAsync("B-lifted", 3_000, "alice", None));

        Assert.Equal(4, await moderation.DeleteExpiredModerationAsync(5_000, None)); // R-old, an audit entry, B-ran-out, B-lifted
        Assert.Equal(["R-new"], (await moderation.ListReportsAsync(openOnly: false, 10, None)).Select(r => r.Id));
        Assert.Equal(["new"], (await moderation.ListAuditAsync(10, None)).Select(e => e.Reason));
        Assert.Equal(["B-long", "B-ended-late"], (await moderation.LoadBansAsync(5_500, None)).Select(b => b.Id).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal(0, await moderation.DeleteExpiredModerationAsync(5_000, None));
    }

    [Fact]
    public async Task A_reports_evidence_is_the_sessions_last_messages_oldest_first()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Carol));
        await WriteAsync(store, [.. Ids(1, 25).Select(id => Message(id, Talk, id % 2 == 0 ? Alice : Bob)), Message(26, Other, Carol)]);

        var last = await ((IModerationStore)store).ReadLastMessagesAsync(Talk, 20, None);
        Assert.Equal(Ids(6, 20), last.Select(m => m.Id));
        Assert.Equal(MessageRecord(25, Talk, Bob), last[^1]);
        Assert.Equal([26UL], (await ((IModerationStore)store).ReadLastMessagesAsync(Other, 20, None)).Select(m => m.Id));
        Assert.Empty(await ((IModerationStore)store).ReadLastMessagesAsync(Fourth, 20, None));
    }
}
