using System.Collections.Concurrent;
using System.Text.Json;
using Chat.Logic.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Filtering;

/// <summary>
/// An operator's classifier on a loopback port (real Kestrel): refuses texts with "spam" (with its
/// own msg), holds texts with "slow" unanswered until disposed, allows the rest; checks each request's
/// signature and records what it was asked.
/// </summary>
internal sealed class ClassifierStub : IAsyncDisposable
{
    public const string Secret = "a test secret of at least thirty-two characters";

    private readonly WebApplication _app;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ClassifierStub(WebApplication app) => _app = app;

    public ConcurrentQueue<JsonElement> Asked { get; } = new();

    public int BadSignatures;

    public string Url => _app.Urls.First() + "/classify";

    public static async Task<ClassifierStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var stub = new ClassifierStub(app);
        app.MapPost("/classify", stub.AnswerAsync);
        await app.StartAsync();
        return stub;
    }

    private async Task AnswerAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        if (!WebhookSignature.Verify(body.ToArray(), Secret, context.Request.Headers[WebhookSignature.Header]))
        {
            Interlocked.Increment(ref BadSignatures);
        }

        var question = JsonDocument.Parse(body.ToArray()).RootElement.Clone();
        Asked.Enqueue(question);
        var text = question.GetProperty("text").GetString()!;
        if (text.Contains("slow", StringComparison.Ordinal))
        {
            await _release.Task;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(text.Contains("spam", StringComparison.Ordinal)
            ? """{"allow": false, "msg": "The classifier says: no spam."}"""
            : """{"allow": true}""");
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
