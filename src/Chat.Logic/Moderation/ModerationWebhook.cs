using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Chat.Logic.Webhooks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// Posts each new report and each moderation action to the operator's URL
/// (<see cref="ModerationOptions.WebhookUrl"/>), one JSON object per request, signed under
/// <see cref="ModerationOptions.WebhookSecret"/> as every webhook of the chat is (<see cref="WebhookSignature"/>). Posts wait in a bounded queue and
/// leave one at a time; one that fails or takes longer than <see cref="ModerationOptions.WebhookTimeout"/>
/// is logged and dropped (the store has the record; the webhook is a notice).
/// </summary>
internal sealed partial class ModerationWebhook(IOptions<ModerationOptions> options, TimeProvider time, ILogger<ModerationWebhook> logger) : BackgroundService
{
    private const int QueueLength = 1000;

    private readonly ModerationOptions _options = options.Value;
    private readonly Channel<WebhookEvent> _queue = Channel.CreateBounded<WebhookEvent>(new BoundedChannelOptions(QueueLength) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    public void Post(WebhookEvent posted)
    {
        if (_options.WebhookUrl is not null)
        {
            _queue.Writer.TryWrite(posted);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.WebhookUrl is not { } url)
        {
            return;
        }

        // No redirects: a receiver that points elsewhere would have the signed post and its note sent on there (a 3xx is logged as a refusal).
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
        var secret = _options.WebhookSecret ?? string.Empty;
        try
        {
            await foreach (var posted in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(posted, WebhookJsonContext.Default.WebhookEvent);
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                WebhookSignature.Stamp(request, body, secret, time);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(_options.WebhookTimeout);
                try
                {
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token); // its body is not ours to read
                    if (!response.IsSuccessStatusCode)
                    {
                        Log.Refused(logger, posted.Type, (int)response.StatusCode);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
                {
                    Log.Failed(logger, posted.Type, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The moderation webhook refused a {Type} post with HTTP {Status}; it is not sent again.")]
        public static partial void Refused(ILogger logger, string type, int status);

        [LoggerMessage(2, LogLevel.Warning, "The moderation webhook could not take a {Type} post (unreachable or too slow); it is not sent again.")]
        public static partial void Failed(ILogger logger, string type, Exception exception);
    }
}

/// <summary>
/// One post of the webhook: <c>type</c> is <c>report</c> (a new report: its id, session, reason,
/// note and the two accounts) or <c>action</c> (an audit entry: who, what, on what, why, and the
/// ban's or report's reference).
/// </summary>
internal sealed record WebhookEvent(
    string Type,
    long At,
    string Ref,
    string? Actor = null,
    string? Action = null,
    string? Target = null,
    string? Reason = null,
    ulong? SessionId = null,
    ulong? ReporterId = null,
    ulong? ReportedId = null,
    string? Note = null)
{
    public static WebhookEvent ForAction(AuditEntry entry, string reference) =>
        new("action", entry.AtUnixMs, reference, entry.Actor, entry.Action, entry.Target, entry.Reason);

    public static WebhookEvent ForReport(ReportRecord report) =>
        new("report", report.CreatedAtUnixMs, report.Id, Reason: report.Reason, SessionId: report.SessionId, ReporterId: report.ReporterId, ReportedId: report.ReportedId, Note: report.Note);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WebhookEvent))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
