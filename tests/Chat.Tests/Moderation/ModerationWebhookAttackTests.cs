using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Moderation;

/// <summary>
/// The moderation webhook against a receiver on a loopback port (real Kestrel): each report is posted
/// signed, with no address in it, and a receiver that redirects does not get the signed post sent on
/// to wherever it points.
/// </summary>
public sealed class ModerationWebhookAttackTests
{
    [Fact]
    public async Task A_report_is_posted_signed_and_without_addresses()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await LimitedServer.StartAsync($"Chat:Moderation:WebhookUrl={receiver.Url}", $"Chat:Moderation:WebhookSecret={WebhookReceiver.Secret}");
        await ReportAsync(server, "203.0.113.40", "198.51.100.40", "<b>he said</b>");

        var post = await receiver.NextAsync();
        Assert.Equal("/hook", post.Path);
        Assert.True(post.Signed, "the post's signature or timestamp did not check out");
        Assert.Equal("report", post.Body.GetProperty("type").GetString());
        Assert.Equal("<b>he said</b>", post.Body.GetProperty("note").GetString());
        var raw = post.Body.GetRawText();
        Assert.DoesNotContain("203.0.113.40", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("198.51.100.40", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receiver_that_redirects_does_not_get_the_signed_post_sent_on()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await LimitedServer.StartAsync($"Chat:Moderation:WebhookUrl={receiver.MovedUrl}", $"Chat:Moderation:WebhookSecret={WebhookReceiver.Secret}");
        await ReportAsync(server, "203.0.113.41", "198.51.100.41", "first");
        await ReportAsync(server, "203.0.113.42", "198.51.100.42", "second");

        // Posts leave one at a time: once the second has reached /moved, the first was done with.
        Assert.Equal("/moved", (await receiver.NextAsync()).Path);
        Assert.Equal("/moved", (await receiver.NextAsync()).Path);
        Assert.Equal(["/moved", "/moved"], receiver.Posts.Select(p => p.Path));
    }

    private static async Task ReportAsync(LimitedServer server, string reported, string reporter, string note)
    {
        var (bad, good, sessionId) = await Pairing.PairAsync(server.VisitorAsync(reported, "bad"), server.VisitorAsync(reporter, "good"));
        await using var _ = bad;
        await using var __ = good;
        Assert.Equal(0, (await good.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "spam", note }, "REPORT_RESP")).Code());
    }
}
