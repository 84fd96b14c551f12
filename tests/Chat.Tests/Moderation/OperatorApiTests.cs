using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Chat.Host.Hosting;
using Chat.Logic.Moderation;
using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Moderation;

/// <summary>The operator's JSON API over HTTP on its own listener, and its bans over real sockets.</summary>
public sealed class OperatorApiTests
{
    private const string Address = "203.0.113.20";

    private static readonly (string Token, string Line) Alice = OperatorOptions.NewToken("alice");

    private static Task<LimitedServer> StartAsync(params string[] more) =>
        LimitedServer.StartAsync(["Chat:Operator:Url=http://127.0.0.1:0", $"Chat:Operator:Tokens:alice={Alice.Line[(Alice.Line.IndexOf('=') + 1)..]}", .. more]);

    private static HttpClient Client(LimitedServer server, string? token = null)
    {
        var address = server.Server.Get<OperatorServer>().Address ?? throw new InvalidOperationException("the operator API is off");
        var client = new HttpClient { BaseAddress = address, Timeout = TestClient.Timeout };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    [Fact]
    public async Task Without_tokens_nothing_listens_and_the_visitors_port_has_no_api()
    {
        await using var server = await LimitedServer.StartAsync("Chat:Operator:Url=http://127.0.0.1:0");
        Assert.Null(server.Server.Get<OperatorServer>().Address);
        using var http = new HttpClient { BaseAddress = server.Server.HttpUri };
        Assert.NotEqual(HttpStatusCode.OK, (await http.GetAsync("/api/bans")).StatusCode);
    }

    [Fact]
    public async Task A_request_without_a_valid_token_gets_401_and_the_visitors_port_never_serves_the_api()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/bans")).StatusCode);
        using var wrong = Client(server, OperatorOptions.NewToken("alice").Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/bans")).StatusCode);
        using var visitorsPort = new HttpClient { BaseAddress = server.Server.HttpUri };
        visitorsPort.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Alice.Token);
        Assert.NotEqual(HttpStatusCode.OK, (await visitorsPort.GetAsync("/api/bans")).StatusCode);
    }

    [Fact]
    public async Task A_ban_closes_the_visitors_socket_with_code_7_and_4003_refuses_it_until_lifted_and_is_audited()
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        await using var visitor = await server.VisitorAsync(Address, "troll");

        var made = await api.PostAsJsonAsync("/api/bans", new { target = "address", value = Address, minutes = 60, reason = "threats" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        var ban = JsonDocument.Parse(await made.Content.ReadAsStringAsync()).RootElement;
        var reference = ban.GetProperty("ref").GetString();

        server.Clock.Advance(TimeSpan.FromSeconds(1)); // the broker's next read of the bans
        var notice = await visitor.ExpectAsync("ERROR_RESP", f => f.Code() == 7);
        Assert.Equal(reference, notice.String("ref"));
        Assert.Contains("threats", notice.String("msg"), StringComparison.Ordinal);
        Assert.Equal(ban.GetProperty("until").GetInt64(), notice.Root.GetProperty("until").GetInt64());
        Assert.Equal((WebSocketCloseStatus)4003, await visitor.Closed.WaitAsync(TestClient.Timeout));

        // The same address on a proxy's other socket: refused at once; a reconnect of the account too.
        var bans = JsonDocument.Parse(await api.GetStringAsync("/api/bans")).RootElement;
        Assert.Equal(reference, Assert.Single(bans.EnumerateArray()).GetProperty("ref").GetString());

        var lifted = await api.PostAsJsonAsync($"/api/bans/{reference}/lift", new { reason = "appeal accepted" });
        Assert.Equal(HttpStatusCode.NoContent, lifted.StatusCode);
        server.Clock.Advance(TimeSpan.FromSeconds(1));
        await using var back = await server.ConnectAsync(Address);
        Assert.Equal(0, (await back.CreateAccountAsync("back")).Code());

        var audit = JsonDocument.Parse(await api.GetStringAsync("/api/audit")).RootElement.EnumerateArray().ToList();
        Assert.Equal(["unban", "ban"], audit.Select(e => e.GetProperty("action").GetString()));
        Assert.All(audit, e => Assert.Equal("alice", e.GetProperty("actor").GetString()));
        Assert.Equal(["appeal accepted", "threats"], audit.Select(e => e.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task A_banned_account_is_refused_on_reconnect_with_code_7()
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        var visitor = await server.VisitorAsync(Address, "troll");
        await visitor.CloseAsync();
        var made = await api.PostAsJsonAsync("/api/bans", new { target = "account", value = visitor.AccountId.ToString(System.Globalization.CultureInfo.InvariantCulture), minutes = 10, reason = "spam" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        server.Clock.Advance(TimeSpan.FromSeconds(1));
        await using var again = await server.ConnectAsync("192.0.2.99");
        again.Adopt(visitor.AccountId, visitor.Token);
        var refused = await again.ReconnectAsync();
        Assert.Equal(7, refused.Code());
        Assert.StartsWith("B-", refused.String("ref"), StringComparison.Ordinal);
        Assert.True(refused.Has("until"));

        // Bans end by themselves.
        server.Clock.Advance(TimeSpan.FromMinutes(10));
        await using var later = await server.ConnectAsync("192.0.2.99");
        later.Adopt(visitor.AccountId, visitor.Token);
        Assert.Equal(0, (await later.ReconnectAsync()).Code());
    }

    [Fact]
    public async Task The_report_queue_shows_the_evidence_and_closing_a_report_is_audited()
    {
        await using var server = await StartAsync();
        using var api = Client(server, Alice.Token);
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(Address, "bad"), server.VisitorAsync("198.51.100.3", "good"));
        await using var _ = bad;
        await using var __ = good;
        await bad.SayAsync(sessionId, "buy my stuff");
        Assert.Equal(0, (await good.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "spam" }, "REPORT_RESP")).Code());

        var report = Assert.Single(JsonDocument.Parse(await api.GetStringAsync("/api/reports")).RootElement.EnumerateArray());
        Assert.Equal("spam", report.GetProperty("reason").GetString());
        Assert.Equal("buy my stuff", Assert.Single(report.GetProperty("evidence").EnumerateArray()).GetProperty("content").GetString());
        var id = report.GetProperty("id").GetString();

        Assert.Equal(HttpStatusCode.BadRequest, (await api.PostAsJsonAsync($"/api/reports/{id}/close", new { reason = "" })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.PostAsJsonAsync($"/api/reports/{id}/close", new { reason = "banned the account" })).StatusCode);
        Assert.Empty(JsonDocument.Parse(await api.GetStringAsync("/api/reports")).RootElement.EnumerateArray());
        Assert.Single(JsonDocument.Parse(await api.GetStringAsync("/api/reports?all=true")).RootElement.EnumerateArray());
        var counts = JsonDocument.Parse(await api.GetStringAsync("/api/counts")).RootElement;
        Assert.Equal(2, counts.GetProperty("online").GetInt32());
        Assert.Contains(JsonDocument.Parse(await api.GetStringAsync("/api/audit")).RootElement.EnumerateArray(), e => e.GetProperty("action").GetString() == "close_report");
    }
}
