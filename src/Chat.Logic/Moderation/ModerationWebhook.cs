using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// Posts each new report and each moderation action to the operator's URL
/// (<see cref="ModerationOptions.WebhookUrl"/>), one JSON object per request, signed: header
/// <c>X-Chat-Signature: sha256=HEX</c>, the HMAC-SHA256 under <see cref="ModerationOptions.WebhookSecret"/>
/// of <c>X-Chat-Timestamp</c> (Unix seconds), a dot and the body. Posts wait in a bounded queue and
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

        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        var key = Encoding.UTF8.GetBytes(_options.WebhookSecret ?? string.Empty);
        try
        {
            await foreach (var posted in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                var body = JsonSerializer.Serialize(posted, WebhookJsonContext.Default.WebhookEvent);
                var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Add("X-Chat-Timestamp", timestamp);
                request.Headers.Add("X-Chat-Signature", "sha256=" + Sign(key, timestamp, body));
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(_options.WebhookTimeout);
                try
                {
                    using var response = await client.SendAsync(request, timeout.Token);
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

    /// <summary>The signature a receiver computes to check a post: HMAC-SHA256(secret, timestamp + "." + body), lower-case hex.</summary>
    public static string Sign(byte[] key, string timestamp, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(timestamp + "." + body)));

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
