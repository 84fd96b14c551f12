using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Chat.Logic.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Infrastructure;

/// <summary>One post a <see cref="WebhookReceiver"/> took: its JSON body, whether its signature and timestamp checked out, and the path it was posted to.</summary>
internal sealed record WebhookPost(JsonElement Body, bool Signed, string Path);

/// <summary>
/// An operator's webhook receiver on a loopback port (real Kestrel): checks each post's signature and
/// timestamp as a receiver should (<see cref="WebhookSignature.Verify"/>), records it, and answers with
/// what <c>answer</c> says; a post <c>hold</c> picks is left unanswered until the receiver is disposed.
/// A post to <see cref="MovedUrl"/> is recorded too and answered 307 to another path of the receiver, as a
/// receiver that tries to have the signed post sent on would.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    public const string Secret = "a test secret of at least thirty-two characters";

    private readonly WebApplication _app;
    private readonly Func<JsonElement, string> _answer;
    private readonly Func<JsonElement, bool> _hold;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<WebhookPost> _arrivals = Channel.CreateUnbounded<WebhookPost>();

    private WebhookReceiver(WebApplication app, Func<JsonElement, string> answer, Func<JsonElement, bool> hold)
    {
        _app = app;
        _answer = answer;
        _hold = hold;
    }

    /// <summary>Every post so far, in arrival order.</summary>
    public ConcurrentQueue<WebhookPost> Posts { get; } = new();

    public string Url => _app.Urls.First() + "/hook";

    /// <summary>Answers every post with a redirect to <c>/elsewhere</c> (where a post would be recorded as well).</summary>
    public string MovedUrl => _app.Urls.First() + "/moved";

    public static async Task<WebhookReceiver> StartAsync(Func<JsonElement, string>? answer = null, Func<JsonElement, bool>? hold = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, answer ?? (_ => "{}"), hold ?? (_ => false));
        app.MapPost("/{path}", receiver.TakeAsync);
        await app.StartAsync();
        return receiver;
    }

    /// <summary>The next post to arrive (bounded by the test timeout).</summary>
    public async Task<WebhookPost> NextAsync() => await _arrivals.Reader.ReadAsync().AsTask().WaitAsync(TestClient.Timeout);

    private async Task TakeAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var headers = context.Request.Headers;
        var signed = WebhookSignature.Verify(body.ToArray(), Secret, headers[WebhookSignature.TimestampHeader], headers[WebhookSignature.Header], DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
        var post = new WebhookPost(JsonDocument.Parse(body.ToArray()).RootElement.Clone(), signed, context.Request.Path);
        Posts.Enqueue(post);
        _arrivals.Writer.TryWrite(post);
        if (_hold(post.Body))
        {
            await _release.Task;
        }

        if (post.Path == "/moved")
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = _app.Urls.First() + "/elsewhere";
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(_answer(post.Body));
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
