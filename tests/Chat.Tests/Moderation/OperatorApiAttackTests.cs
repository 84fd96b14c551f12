using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Chat.Tests.Infrastructure;
using static Chat.Tests.Moderation.OperatorApiTests;

namespace Chat.Tests.Moderation;

/// <summary>
/// The operator API as a stranger who reached its port sees it: nothing is read or parsed before the
/// token is checked, a body is small, and what visitors wrote comes back as JSON text, never markup.
/// </summary>
public sealed class OperatorApiAttackTests
{
    [Fact]
    public async Task Without_a_valid_token_every_request_gets_the_same_401_whatever_its_body()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        using var wrong = Client(server, Chat.Logic.Moderation.OperatorOptions.NewToken("alice").Token);
        foreach (var client in new[] { anonymous, wrong })
        {
            foreach (var body in new[] { "{not json", "[1,2]", "{\"minutes\":\"many\"}" })
            {
                using var bad = await client.PostAsync("/api/bans", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
                Assert.Contains("operator token", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            using var plain = await client.PostAsync("/api/reports/R-1/close", new StringContent("reason", Encoding.UTF8, "text/plain"));
            Assert.Equal(HttpStatusCode.Unauthorized, plain.StatusCode);
        }
    }

    [Fact]
    public async Task A_body_too_big_is_refused_with_413_and_a_bad_one_with_400_even_for_an_operator()
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        using var big = await api.PostAsJsonAsync("/api/bans", new { target = "address", value = "203.0.113.1", minutes = 60, reason = "x", padding = new string('x', 1 << 20) });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        using var bad = await api.PostAsync("/api/bans", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("error", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(JsonDocument.Parse(await api.GetStringAsync("/api/bans")).RootElement.EnumerateArray());

        // A body that fits still works, and one with no body is told what to send.
        using var made = await api.PostAsJsonAsync("/api/bans", new { target = "address", value = "203.0.113.1", minutes = 60, reason = "spam" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        using var empty = await api.PostAsync("/api/bans", null);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
    }

    [Theory]
    [InlineData("2001:db8:5:6::1", "2001:db8:5:6:abcd::9", "2001:db8:5:7::1")] // a ban of an address bans its /64
    [InlineData("::ffff:203.0.113.50", "203.0.113.50", "203.0.113.51")] // IPv4 written as IPv6
    public async Task A_ban_covers_every_spelling_of_the_address_and_no_other(string banned, string visitor, string neighbour)
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        await using var inside = await server.VisitorAsync(visitor, "inside");
        await using var outside = await server.VisitorAsync(neighbour, "outside");
        using var made = await api.PostAsJsonAsync("/api/bans", new { target = "address", value = banned, minutes = 60, reason = "spam" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        server.Clock.Advance(TimeSpan.FromSeconds(1)); // the broker's next read of the bans
        Assert.Equal(7, (await inside.ExpectAsync("ERROR_RESP", f => f.Code() == 7)).Code());
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)4003, await inside.Closed.WaitAsync(TestClient.Timeout));
        Assert.Equal(0, (await outside.RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP")).Code());
    }

    [Fact]
    public async Task Evidence_and_notes_with_markup_come_back_as_escaped_json_text()
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync("203.0.113.30", "bad"), server.VisitorAsync("198.51.100.30", "good"));
        await using var _ = bad;
        await using var __ = good;
        const string Markup = "<img src=x onerror=alert(1)></script>";
        Assert.Equal(0, (await bad.SayAsync(sessionId, Markup)).Code());
        Assert.Equal(0, (await good.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "spam", note = Markup }, "REPORT_RESP")).Code());

        using var response = await api.GetAsync("/api/reports");
        var raw = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.DoesNotContain("<", raw, StringComparison.Ordinal);
        var report = Assert.Single(JsonDocument.Parse(raw).RootElement.EnumerateArray());
        Assert.Equal(Markup, report.GetProperty("note").GetString());
        Assert.Equal(Markup, Assert.Single(report.GetProperty("evidence").EnumerateArray()).GetProperty("content").GetString());
    }
}
