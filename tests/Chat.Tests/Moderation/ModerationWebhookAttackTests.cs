using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Chat.Logic.Moderation;
using Chat.Logic.Webhooks;
using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Moderation;

/// <summary>
/// The moderation webhook against a receiver on a loopback port (real Kestrel): each report is posted
/// signed, with no address in it, and a receiver that redirects does not get the signed post sent on
/// to wherever it points.
/// </summary>
public sealed class ModerationWebhookAttackTests
{
    private const string Secret = "the operator's webhook secret";

    [Fact]
    public async Task A_report_is_posted_signed_and_without_addresses()
    {
        await using var receiver = await Receiver.StartAsync();
        await using var server = await LimitedServer.StartAsync($"Chat:Moderation:WebhookUrl={receiver.Url("/hook")}", $"Chat:Moderation:WebhookSecret={Secret}");
        await ReportAsync(server, "203.0.113.40", "198.51.100.40", "<b>he said</b>");

        var post = await receiver.Posts.Reader.ReadAsync().AsTask().WaitAsync(TestClient.Timeout);
        Assert.Equal("/hook", post.Path);
        var expected = WebhookSignature.Sign(post.Timestamp, Encoding.UTF8.GetBytes(post.Body), Secret);
        Assert.Equal(expected, post.Signature);
        var body = JsonDocument.Parse(post.Body).RootElement;
        Assert.Equal("report", body.GetProperty("type").GetString());
        Assert.Equal("<b>he said</b>", body.GetProperty("note").GetString());
        Assert.DoesNotContain("203.0.113.40", post.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("198.51.100.40", post.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receiver_that_redirects_does_not_get_the_signed_post_sent_on()
    {
        await using var receiver = await Receiver.StartAsync();
        await using var server = await LimitedServer.StartAsync($"Chat:Moderation:WebhookUrl={receiver.Url("/moved")}", $"Chat:Moderation:WebhookSecret={Secret}");
        await ReportAsync(server, "203.0.113.41", "198.51.100.41", "first");
        await ReportAsync(server, "203.0.113.42", "198.51.100.42", "second");

        // Posts leave one at a time: once the second has reached /moved, the first was done with.
        Assert.Equal("/moved", (await receiver.Posts.Reader.ReadAsync().AsTask().WaitAsync(TestClient.Timeout)).Path);
        Assert.Equal("/moved", (await receiver.Posts.Reader.ReadAsync().AsTask().WaitAsync(TestClient.Timeout)).Path);
        Assert.False(receiver.Posts.Reader.TryRead(out var onward), $"the post was sent on to {onward?.Path}");
    }

    private static async Task ReportAsync(LimitedServer server, string reported, string reporter, string note)
    {
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(reported, "bad"), server.VisitorAsync(reporter, "good"));
        await using var _ = bad;
        await using var __ = good;
        Assert.Equal(0, (await good.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "spam", note }, "REPORT_RESP")).Code());
    }

    private sealed record Post(string Path, string Body, string Timestamp, string Signature);

    /// <summary>Records every post it gets; <c>/moved</c> answers 307 to <c>/elsewhere</c>.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Receiver(WebApplication app) => _app = app;

        public System.Threading.Channels.Channel<Post> Posts { get; } = System.Threading.Channels.Channel.CreateUnbounded<Post>();

        public string Url(string path) => _app.Urls.First() + path;

        public static async Task<Receiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var receiver = new Receiver(app);
            app.Run(receiver.AnswerAsync);
            await app.StartAsync();
            return receiver;
        }

        private async Task AnswerAsync(HttpContext context)
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers;
            await Posts.Writer.WriteAsync(new Post(context.Request.Path, body, headers["X-Chat-Timestamp"].ToString(), headers["X-Chat-Signature"].ToString()));
            if (context.Request.Path == "/moved")
            {
                context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
                context.Response.Headers.Location = Url("/elsewhere");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
