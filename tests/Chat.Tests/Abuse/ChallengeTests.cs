using System.Text.Json;
using Chat.Logic.Abuse;
using Chat.Tests.Diagnostics;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Chat.Tests.Infrastructure.Exposition;

namespace Chat.Tests.Abuse;

/// <summary>
/// The bot challenge (ALTCHA's format): demanded at the threshold, solved, and refused when replayed,
/// expired, forged or brought from another address. Runs with the metrics tests (alone).
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class ChallengeTests
{
    private const string Address = "198.51.100.40";

    /// <summary>Easy to solve: the tests are about the rules, not the work.</summary>
    private static readonly string[] EasyChallenges = ["Chat:Limits:Challenge:MaxNumber=2000"];

    [Fact]
    public async Task The_sixth_account_of_a_minute_must_carry_a_solved_challenge_and_gets_one_offered()
    {
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:AfterAccounts=5", .. EasyChallenges]);
        for (var i = 0; i < 5; i++)
        {
            await using var visitor = await server.VisitorAsync(Address, $"v{i}");
        }

        await using var sixth = await server.ConnectAsync(Address);
        var refused = await CreateAsync(sixth);
        Assert.Equal(6, refused.Code());
        Assert.False(refused.Has("accountId"));
        Assert.Contains("solve the challenge", refused.String("msg"), StringComparison.Ordinal);
        var challenge = refused.Root.GetProperty("challenge");
        Assert.Equal("SHA-256", challenge.GetProperty("algorithm").GetString());
        Assert.Matches("^[0-9a-f]{64}$", challenge.GetProperty("challenge").GetString());
        Assert.Matches("^[0-9a-f]{64}$", challenge.GetProperty("signature").GetString());
        Assert.Equal(2000, challenge.GetProperty("maxnumber").GetInt64());
        Assert.Matches(@"^[0-9a-f]{24}\?expires=[0-9]+&a=[0-9a-f]{16}&$", challenge.GetProperty("salt").GetString());

        var created = await CreateAsync(sixth, AltchaSolver.Solve(challenge));
        Assert.Equal(0, created.Code());
        Assert.True(created.ULong("accountId") > 0);

        var metrics = await server.MetricsAsync();
        Assert.Equal(1, Value(metrics, "chat_abuse_refusals_total", "kind=\"challenge\""));
        Assert.Null(TryValue(metrics, "chat_abuse_refusals_total", "kind=\"challenge_failed\""));
    }

    [Fact]
    public async Task A_solution_is_accepted_once_and_a_replay_is_offered_a_new_challenge()
    {
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:Always=true", .. EasyChallenges]);
        await using var first = await server.ConnectAsync(Address);
        var solution = AltchaSolver.Solve((await CreateAsync(first)).Root.GetProperty("challenge"));
        Assert.Equal(0, (await CreateAsync(first, solution)).Code());

        await using var second = await server.ConnectAsync(Address);
        var replayed = await CreateAsync(second, solution);
        Assert.Equal(6, replayed.Code());
        Assert.Contains("used before", replayed.String("msg"), StringComparison.Ordinal);
        Assert.Equal(0, (await CreateAsync(second, AltchaSolver.Solve(replayed.Root.GetProperty("challenge")))).Code());
        Assert.Equal(1, Value(await server.MetricsAsync(), "chat_abuse_refusals_total", "kind=\"challenge_failed\""));
    }

    [Fact]
    public async Task A_solution_past_the_challenges_expiry_is_refused()
    {
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:Always=true", "Chat:Limits:Challenge:Expiry=00:02:00", .. EasyChallenges]);
        await using var visitor = await server.ConnectAsync(Address);
        var challenge = (await CreateAsync(visitor)).Root.GetProperty("challenge");
        var solution = AltchaSolver.Solve(challenge);

        server.Clock.Advance(TimeSpan.FromMinutes(2));
        var expired = await CreateAsync(visitor, solution);
        Assert.Equal(6, expired.Code());
        Assert.Contains("expired", expired.String("msg"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_signature_a_wrong_number_and_a_solution_from_another_address_are_refused()
    {
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:Always=true", .. EasyChallenges]);
        await using var visitor = await server.ConnectAsync(Address);
        var challenge = (await CreateAsync(visitor)).Root.GetProperty("challenge");
        var right = JsonDocument.Parse(Convert.FromBase64String(AltchaSolver.Solve(challenge))).RootElement.GetProperty("number").GetInt64();

        var signature = challenge.GetProperty("signature").GetString()!;
        var forged = (signature[0] == '0' ? "1" : "0") + signature[1..];
        foreach (var (payload, why) in new[]
        {
            (AltchaSolver.Payload(challenge, right, forged), "does not solve"),
            (AltchaSolver.Payload(challenge, right + 1), "does not solve"),
            ("not base64 at all!", "not a solution"),
            (Convert.ToBase64String("""{"algorithm":"SHA-1"}"""u8.ToArray()), "not a solution"),
        })
        {
            var refused = await CreateAsync(visitor, payload);
            Assert.Equal(6, refused.Code());
            Assert.Contains(why, refused.String("msg"), StringComparison.Ordinal);
        }

        // The right answer, from another address.
        await using var elsewhere = await server.ConnectAsync("198.51.100.41");
        var refusedThere = await CreateAsync(elsewhere, AltchaSolver.Payload(challenge, right));
        Assert.Equal(6, refusedThere.Code());
        Assert.Contains("another address", refusedThere.String("msg"), StringComparison.Ordinal);

        // And still good where it was made.
        Assert.Equal(0, (await CreateAsync(visitor, AltchaSolver.Payload(challenge, right))).Code());
        Assert.Equal(5, Value(await server.MetricsAsync(), "chat_abuse_refusals_total", "kind=\"challenge_failed\""));
    }

    [Fact]
    public async Task A_challenge_made_before_a_restart_is_still_good_after_it_with_the_key_kept_in_the_data_folder()
    {
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:Always=true", .. EasyChallenges]);
        var keyFile = Path.Combine(server.Server.DataDirectory, AltchaKey.FileName);
        Assert.True(File.Exists(keyFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile)); // 0600
        }

        var key = await File.ReadAllTextAsync(keyFile);
        Assert.Matches("^[0-9a-f]{64}$", key);

        JsonElement challenge;
        await using (var before = await server.ConnectAsync(Address))
        {
            challenge = (await CreateAsync(before)).Root.GetProperty("challenge").Clone();
        }

        await server.Server.RestartAsync();
        Assert.Equal(key, await File.ReadAllTextAsync(keyFile));
        await using var after = await server.ConnectAsync(Address);
        Assert.Equal(0, (await CreateAsync(after, AltchaSolver.Solve(challenge))).Code());
    }

    [Fact]
    public async Task An_account_taking_new_partners_faster_than_a_person_must_solve_a_challenge_to_be_matched_again()
    {
        // Alice keeps her chats (the session cap, 3, is BoundedWorkTests' business, not this test's).
        await using var server = await LimitedServer.StartAsync(["Chat:Limits:Challenge:AfterMatches=2", "Chat:Logic:MaxActiveSessions=10", .. EasyChallenges]);
        await using var alice = await server.VisitorAsync(Address, "alice");
        var partners = new List<TestClient>();
        async Task MatchWithNewPartnerAsync()
        {
            var partner = await server.VisitorAsync($"203.0.113.{70 + partners.Count}", $"p{partners.Count}");
            partners.Add(partner);
            Assert.Equal(0, (await MatchAsync(partner)).Code());
            await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        }

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(4, (await MatchAsync(alice)).Code());
            await MatchWithNewPartnerAsync();
        }

        // A third new partner within the minute: only with a solved challenge.
        var challenged = await MatchAsync(alice);
        Assert.Equal(6, challenged.Code());
        Assert.Contains("new partners in a minute", challenged.String("msg"), StringComparison.Ordinal);
        var solution = AltchaSolver.Solve(challenged.Root.GetProperty("challenge"));
        Assert.Equal(4, (await MatchAsync(alice, solution)).Code());
        await MatchWithNewPartnerAsync();

        // The next needs another: the one used is refused.
        var replayed = await MatchAsync(alice, solution);
        Assert.Equal(6, replayed.Code());
        Assert.Contains("used before", replayed.String("msg"), StringComparison.Ordinal);
        Assert.Equal(4, (await MatchAsync(alice, AltchaSolver.Solve(replayed.Root.GetProperty("challenge")))).Code());

        var metrics = await server.MetricsAsync();
        Assert.Equal(1, Value(metrics, "chat_abuse_refusals_total", "kind=\"challenge\""));
        Assert.Equal(1, Value(metrics, "chat_abuse_refusals_total", "kind=\"challenge_failed\""));
        foreach (var partner in partners)
        {
            await partner.DisposeAsync();
        }
    }

    [Fact]
    public void A_payload_signed_by_altcha_lib_the_reference_implementation_verifies()
    {
        // Made with altcha-lib 2.8.0's v1 API (npm), key "test-key-for-altcha-vector", for 203.0.113.5:
        // createChallenge({hmacKey, salt, number: 4242}), then the widget's payload for it.
        const string Payload = "eyJhbGdvcml0aG0iOiJTSEEtMjU2IiwiY2hhbGxlbmdlIjoiMjc4NThhYWMzY2NlNmFlNDcwYjIyMTNiNDZlZTBjZDg4MGE1YzVjZjQwZWEyZWIxMDRmZmI1NTc3NjY3YTQ1NiIsIm51bWJlciI6NDI0Miwic2FsdCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nz9leHBpcmVzPTQxMDI0NDQ4MDAmYT03MWQwMDRhMGQyNGYyZDNkJiIsInNpZ25hdHVyZSI6ImY0YzFiMzhiNWE3M2M5N2RmZTQyZmIxZDVlN2UyODlmNTVhMGZlZTUwMzNhMWU4YjkwYzc0ZDRjYjY3YjM2NGUifQ==";
        var limits = new LimitOptions { Challenge = { Key = "test-key-for-altcha-vector" } };
        var altcha = new Altcha(new AltchaKey(Options.Create(limits), Options.Create(new Chat.Logic.Storage.StoreOptions())), Options.Create(limits), new FakeTimeProvider(DateTimeOffset.UtcNow));

        Assert.Equal(Altcha.Verdict.Solved, altcha.Verify(Payload, "203.0.113.5", out var solved));
        Assert.Equal("0123456789abcdef01234567", solved.Id);
        Assert.Equal(Altcha.Verdict.OtherAddress, altcha.Verify(Payload, "203.0.113.6", out _));
    }

    private static Task<Frame> MatchAsync(TestClient client, string? altcha = null) =>
        client.RequestAsync(new { cmd = "MATCH_REQ", altcha }, "MATCH_RESP");

    private static Task<Frame> CreateAsync(TestClient client, string? altcha = null) =>
        client.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName = "someone", altcha }, "CRT_ACCOUNT_RESP");
}
