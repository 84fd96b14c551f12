using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Chat.Host.Hosting;
using Chat.Logic.Moderation;
using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Moderation;

/// <summary>
/// The moderation webhook against a receiver on a loopback port: a new report and an operator's action
/// are each posted, signed so the receiver can check them with the configured secret, and a receiver
/// that does not answer is given up on after the timeout without holding up the report or later posts.
/// </summary>
public sealed class ModerationWebhookTests
{
    private static readonly (string Token, string Line) Alice = OperatorOptions.NewToken("alice");

    private static Task<LimitedServer> StartAsync(WebhookReceiver receiver, params string[] more) => LimitedServer.StartAsync(
    [
        "Chat:Operator:Url=http://127.0.0.1:0", $"Chat:Operator:Tokens:alice={Alice.Line[(Alice.Line.IndexOf('=') + 1)..]}",
        $"Chat:Moderation:WebhookUrl={receiver.Url}", $"Chat:Moderation:WebhookSecret={WebhookReceiver.Secret}", .. more,
    ]);

    private static HttpClient Api(LimitedServer server)
    {
        var api = new HttpClient { BaseAddress = server.Server.Get<OperatorServer>().Address, Timeout = TestClient.Timeout };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Alice.Token);
        return api;
    }

    private static async Task<(ulong SessionId, ulong ReportedId)> ReportAsync(LimitedServer server)
    {
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync("203.0.113.30", "bad"), server.VisitorAsync("198.51.100.30", "good"));
        await using var _ = bad;
        await using var __ = good;
        await bad.SayAsync(sessionId, "click my link");
        Assert.Equal(0, (await good.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "spam", note = "bot" }, "REPORT_RESP")).Code());
        return (sessionId, bad.AccountId);
    }

    [Fact]
    public async Task A_new_report_and_an_operators_action_are_each_posted_signed_with_the_configured_secret()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await StartAsync(receiver);
        using var api = Api(server);

        var (sessionId, reportedId) = await ReportAsync(server);
        var report = await receiver.NextAsync();
        Assert.True(report.Signed, "the report's post did not verify with the configured secret");
        Assert.Equal("report", report.Body.GetProperty("type").GetString());
        Assert.Equal(sessionId, report.Body.GetProperty("sessionId").GetUInt64());
        Assert.Equal(reportedId, report.Body.GetProperty("reportedId").GetUInt64());
        Assert.Equal("spam", report.Body.GetProperty("reason").GetString());
        Assert.Equal("bot", report.Body.GetProperty("note").GetString());
        Assert.StartsWith("R-", report.Body.GetProperty("ref").GetString(), StringComparison.Ordinal);

        using var made = await api.PostAsJsonAsync("/api/bans", new { target = "account", value = reportedId.ToString(System.Globalization.CultureInfo.InvariantCulture), minutes = 60, reason = "spam bot" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        var action = await receiver.NextAsync();
        Assert.True(action.Signed, "the action's post did not verify with the configured secret");
        Assert.Equal("action", action.Body.GetProperty("type").GetString());
        Assert.Equal("alice", action.Body.GetProperty("actor").GetString());
        Assert.Equal("ban", action.Body.GetProperty("action").GetString());
        Assert.Equal("spam bot", action.Body.GetProperty("reason").GetString());
        Assert.StartsWith("B-", action.Body.GetProperty("ref").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receiver_that_does_not_answer_times_out_without_holding_up_the_report_or_the_next_post()
    {
        // The receiver takes the report's post and never answers it.
        await using var receiver = await WebhookReceiver.StartAsync(hold: post => post.GetProperty("type").GetString() == "report");
        await using var server = await StartAsync(receiver, "Chat:Moderation:WebhookTimeout=00:00:00.500");
        using var api = Api(server);

        var (_, reportedId) = await ReportAsync(server); // REPORT_RESP code 0 while the post hangs
        Assert.Equal("report", (await receiver.NextAsync()).Body.GetProperty("type").GetString());
        var open = await server.Server.Get<IModerationStore>().ListReportsAsync(openOnly: true, 10, CancellationToken.None);
        Assert.Single(open); // the store has it whatever the receiver does

        using var made = await api.PostAsJsonAsync("/api/bans", new { target = "account", value = reportedId.ToString(System.Globalization.CultureInfo.InvariantCulture), minutes = 60, reason = "spam bot" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        var action = await receiver.NextAsync(); // sent once the hung post was given up on
        Assert.Equal("action", action.Body.GetProperty("type").GetString());
        Assert.True(action.Signed);
    }
}
