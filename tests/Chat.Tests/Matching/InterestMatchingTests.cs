using System.Text.Json;
using Chat.Logic.Matching;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Matching;

/// <summary>MATCH_REQ with interests and a language, over real sockets, on a fake clock (the fallback delay is exact).</summary>
public sealed class InterestMatchingTests
{
    // Sockets stay open however far the clock is moved; the rules' clock is the fake one.
    private static readonly string[] Quiet = ["Chat:Broker:SilenceTimeout=01:00:00", "Chat:Limits:WaitingPerAddress=0", "Chat:Limits:MatchesPerMinute=0", "Chat:Limits:Challenge:AfterMatches=0"];

    [Fact]
    public async Task The_partner_is_the_visitor_who_shares_the_most_interests()
    {
        // Real time (no fallback within the test): the order of arrival is the order of the requests.
        await using var server = await ChatServer.StartAsync([.. Quiet, "Chat:Matching:FallbackDelay=01:00:00"]);
        // Bob and Carol share jazz, but not a language: neither falls back within the test.
        await using var bob = await WaitingAsync(server, null, "bob", ["jazz"], lang: "en");
        await using var carol = await WaitingAsync(server, null, "carol", ["jazz", "chess"], lang: "fr");
        await using var dave = await WaitingAsync(server, null, "dave", ["tea"]);

        await using var alice = await server.NewVisitorAsync("alice");
        var matched = await MatchAsync(alice, new { interests = new[] { "jazz", "chess", "go" } });
        Assert.Equal(0, matched.Code());
        Assert.Equal(carol.AccountId, matched.ULong("partnerId"));
        Assert.Equal(["chess", "jazz"], Common(matched.Root));
        var told = await carol.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal(alice.AccountId, told.DataAccountId);
        Assert.Equal(["chess", "jazz"], Common(told.Root.GetProperty("data")));
        await bob.BarrierAsync();
        Assert.DoesNotContain(bob.Snapshot(), f => f.String("signalType") == "NewSession");

        // Bob and Dave still wait, each for their own interest.
        await using var henry = await server.NewVisitorAsync("henry");
        Assert.Equal(bob.AccountId, (await MatchAsync(henry, new { interests = new[] { "jazz" }, lang = "en" })).ULong("partnerId"));
        await using var ivy = await server.NewVisitorAsync("ivy");
        Assert.Equal(dave.AccountId, (await MatchAsync(ivy, new { interests = new[] { "TEA" } })).ULong("partnerId"));
    }

    [Fact]
    public async Task Among_visitors_sharing_as_many_interests_the_one_who_waited_longest_is_the_partner()
    {
        // Real time (no fallback within the test): the order of arrival is the order of the requests.
        await using var server = await ChatServer.StartAsync([.. Quiet, "Chat:Matching:FallbackDelay=01:00:00"]);
        // Bob and Erin share jazz, but not a language: neither falls back within the test.
        await using var bob = await WaitingAsync(server, null, "bob", ["jazz", "tea"], lang: "en");
        await using var erin = await WaitingAsync(server, null, "erin", ["jazz"], lang: "fr");

        await using var frank = await server.NewVisitorAsync("frank");
        var tie = await MatchAsync(frank, new { interests = new[] { "jazz", "go" } });
        Assert.Equal(bob.AccountId, tie.ULong("partnerId"));
        Assert.Equal(["jazz"], Common(tie.Root));
        await erin.BarrierAsync();
        Assert.DoesNotContain(erin.Snapshot(), f => f.String("signalType") == "NewSession");

        // Erin still waits, next in line.
        await using var gina = await server.NewVisitorAsync("gina");
        Assert.Equal(erin.AccountId, (await MatchAsync(gina, new { interests = new[] { "jazz" }, lang = "fr" })).ULong("partnerId"));
    }

    [Fact]
    public async Task Interests_are_trimmed_normalised_and_lower_cased_and_anything_else_is_refused_naming_the_field()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, Quiet);
        await using var alice = await server.NewVisitorAsync("alice");

        foreach (var (wrong, field) in new (object, string)[]
        {
            (new { interests = "jazz" }, "interests"),
            (new { interests = new object[] { "jazz", 7 } }, "interests"),
            (new { interests = Enumerable.Range(0, 11).Select(i => $"tag{i}").ToArray() }, "interests"),
            (new { interests = new[] { new string('x', 33) } }, "interests"),
            (new { interests = new[] { "   " } }, "interests"),
            (new { interests = new[] { "jazz" }, lang = "12" }, "lang"),
            (new { fallback = "no" }, "fallback"),
        })
        {
            var refused = await MatchAsync(alice, wrong);
            Assert.Equal(1, refused.Code());
            Assert.Contains(field, refused.String("msg"), StringComparison.Ordinal);
        }

        // 32 characters counted in runes (emoji are two UTF-16 units each), folded: one interest, "jazz".
        var longest = string.Concat(Enumerable.Repeat("🎷", 32));
        Assert.Equal(4, (await MatchAsync(alice, new { interests = new[] { "  JAZZ ", "ｊａｚｚ", longest } })).Code());
        await using var bob = await server.NewVisitorAsync("bob");
        var matched = await MatchAsync(bob, new { interests = new[] { "Jazz", longest } });
        Assert.Equal(0, matched.Code());
        Assert.Equal(new[] { "jazz", longest }.Order(StringComparer.Ordinal), Common(matched.Root));
    }

    [Fact]
    public async Task With_no_interest_shared_visitors_are_paired_only_once_the_fallback_delay_has_passed_the_clock_kept_across_repeats()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, Quiet);
        await using var alice = await WaitingAsync(server, clock, "alice", ["jazz"], advance: false);
        await using var bob = await WaitingAsync(server, clock, "bob", ["chess"], advance: false);

        // 4.9 s: Alice asks again (as the seed's client does every 3 s): still only on a shared interest.
        await AdvanceAsync(clock, TimeSpan.FromMilliseconds(4900), alice, bob);
        Assert.Equal(4, (await MatchAsync(alice, new { interests = new[] { "jazz" } })).Code());
        Assert.DoesNotContain(bob.Snapshot(), f => f.String("signalType") == "NewSession");

        // 5 s since each first asked: both fall back, and are paired with each other (nothing in common).
        await AdvanceAsync(clock, TimeSpan.FromMilliseconds(100), alice, bob);
        var toAlice = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        var toBob = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal((bob.AccountId, alice.AccountId), (toAlice.DataAccountId, toBob.DataAccountId));
        Assert.Equal(toAlice.ULong("sessionId"), toBob.ULong("sessionId"));
        Assert.Empty(Common(toAlice.Root.GetProperty("data")));
    }

    [Theory]
    [InlineData(0, 1, 0)] // the sharing visitor in a higher shard, the open one beside the due visitor
    [InlineData(3, 1, 3)] // the sharing visitor in a lower shard
    [InlineData(2, 3, 1)] // the open visitor in a lower shard, whose sweeps look into the due visitor's
    public async Task With_four_shards_a_visitor_whose_fallback_is_due_is_paired_on_the_interest_it_shares_with_someone_in_another_shard(int aliceShard, int bobShard, int nickShard)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, [.. Quiet, "Chat:Matching:Shards=4"]);

        // Alice and Bob share jazz but not a language, so neither may be paired with the other before
        // their fallback delay; Nick asked for nothing and is open to anyone from the start.
        await using var alice = await InShardAsync(server, "alice", aliceShard);
        Assert.Equal(4, (await MatchAsync(alice, new { interests = new[] { "jazz" }, lang = "en" })).Code());
        await using var bob = await InShardAsync(server, "bob", bobShard);
        Assert.Equal(4, (await MatchAsync(bob, new { interests = new[] { "jazz", "tea" }, lang = "fr" })).Code());
        await using var nick = await InShardAsync(server, "nick", nickShard);
        Assert.Equal(4, (await MatchAsync(nick, new { })).Code());

        // Their delays pass: with one pool Alice's partner is Bob (an interest shared beats none), and so it is across shards.
        await AdvanceAsync(clock, TimeSpan.FromSeconds(5), alice, bob, nick);
        var toAlice = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal(bob.AccountId, toAlice.DataAccountId);
        Assert.Equal(["jazz"], Common(toAlice.Root.GetProperty("data")));
        var toBob = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal(alice.AccountId, toBob.DataAccountId);
        await nick.BarrierAsync();
        Assert.DoesNotContain(nick.Snapshot(), f => f.String("signalType") == "NewSession");
    }

    [Fact]
    public async Task A_visitor_who_turned_fallback_off_waits_for_a_shared_interest_however_long()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, Quiet);
        await using var alice = await server.NewVisitorAsync("alice");
        Assert.Equal(4, (await MatchAsync(alice, new { interests = new[] { "jazz" }, fallback = false })).Code());
        await using var bob = await WaitingAsync(server, clock, "bob", []);

        await AdvanceAsync(clock, TimeSpan.FromMinutes(2), alice, bob);
        Assert.Equal(4, (await MatchAsync(alice, new { interests = new[] { "jazz" }, fallback = false })).Code());
        Assert.Equal(4, (await MatchAsync(bob, new { })).Code());

        await using var carol = await server.NewVisitorAsync("carol");
        var matched = await MatchAsync(carol, new { interests = new[] { "jazz" } });
        Assert.Equal(alice.AccountId, matched.ULong("partnerId"));
    }

    [Fact]
    public async Task Visitors_are_paired_in_their_own_language_first_and_in_another_only_after_the_fallback_delay()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, Quiet);
        await using var alice = await server.NewVisitorAsync("alice");
        Assert.Equal(4, (await MatchAsync(alice, new { lang = "en-US" })).Code());
        await using var bob = await server.NewVisitorAsync("bob");
        Assert.Equal(4, (await MatchAsync(bob, new { lang = "fr" })).Code());

        await using var carol = await server.NewVisitorAsync("carol");
        var english = await MatchAsync(carol, new { lang = "EN" });
        Assert.Equal(alice.AccountId, english.ULong("partnerId"));

        await using var dave = await server.NewVisitorAsync("dave");
        Assert.Equal(4, (await MatchAsync(dave, new { lang = "de-AT" })).Code());
        await AdvanceAsync(clock, TimeSpan.FromMilliseconds(4900), bob, dave);
        Assert.Equal(4, (await MatchAsync(dave, new { lang = "de-AT" })).Code());

        await AdvanceAsync(clock, TimeSpan.FromMilliseconds(100), bob, dave);
        var toDave = await dave.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal(bob.AccountId, toDave.DataAccountId);
    }

    [Fact]
    public async Task Two_who_just_chatted_are_not_paired_again_until_the_rematch_window_has_passed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, [.. Quiet, "Chat:Matching:RematchAfter=00:01:00"]);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId }, "END_SESSION_RESP")).Code());
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");

        // Skipped: both look for someone new, and there is only each other.
        Assert.Equal(4, (await MatchAsync(alice, new { })).Code());
        Assert.Equal(4, (await MatchAsync(bob, new { })).Code());
        await AdvanceAsync(clock, TimeSpan.FromSeconds(59), alice, bob);
        Assert.Equal(4, (await MatchAsync(alice, new { })).Code());

        await AdvanceAsync(clock, TimeSpan.FromSeconds(1), alice, bob);
        var again = await MatchAsync(alice, new { });
        if (again.Code() == 4)
        {
            again = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession"); // a sweep was first
            Assert.Equal(bob.AccountId, again.DataAccountId);
        }
        else
        {
            Assert.Equal(bob.AccountId, again.ULong("partnerId"));
        }

        Assert.NotEqual(sessionId, again.ULong("sessionId"));
    }

    private static async Task<Frame> MatchAsync(TestClient client, object extra)
    {
        var frame = JsonSerializer.SerializeToNode(extra)!.AsObject();
        frame["cmd"] = "MATCH_REQ";
        return await client.RequestAsync(frame, "MATCH_RESP");
    }

    /// <summary>A visitor who asked for a partner with these interests and waits; the clock then moves on a second, so the next is younger.</summary>
    private static async Task<TestClient> WaitingAsync(ChatServer server, FakeTimeProvider? clock, string name, string[] interests, bool advance = true, string? lang = null)
    {
        var client = await server.NewVisitorAsync(name);
        Assert.Equal(4, (await MatchAsync(client, interests.Length == 0 ? new { } : lang is null ? new { interests } : new { interests, lang })).Code());
        if (advance)
        {
            clock?.Advance(TimeSpan.FromSeconds(1));
        }

        return client;
    }

    /// <summary>A new visitor whose account waits in matchmaker shard <paramref name="shard"/> of four (accounts made on the way are closed).</summary>
    private static async Task<TestClient> InShardAsync(ChatServer server, string name, int shard)
    {
        while (true)
        {
            var client = await server.NewVisitorAsync(name);
            if (MatchShards.Of(client.AccountId, 4) == shard)
            {
                return client;
            }

            await client.DisposeAsync();
        }
    }

    /// <summary>Moves the clock in steps of the matchmaker's sweep, each step seen through by the clients' server.</summary>
    private static async Task AdvanceAsync(FakeTimeProvider clock, TimeSpan by, params TestClient[] clients)
    {
        var step = TimeSpan.FromMilliseconds(100);
        for (var moved = TimeSpan.Zero; moved < by; moved += step)
        {
            clock.Advance(by - moved < step ? by - moved : step);
            if (by <= TimeSpan.FromSeconds(10) || (moved.Ticks / step.Ticks) % 50 == 0)
            {
                foreach (var client in clients)
                {
                    await client.BarrierAsync();
                }
            }
        }
    }

    private static string[] Common(JsonElement element) =>
        [.. element.GetProperty("commonInterests").EnumerateArray().Select(e => e.GetString()!)];
}
