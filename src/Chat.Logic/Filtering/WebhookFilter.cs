using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Chat.Logic.Diagnostics;
using Chat.Logic.Webhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Filtering;

/// <summary>
/// Asks the operator's own classifier (<c>Chat:Filter:Webhook:Url</c>) about each message: posts
/// <c>{"sessionId", "senderId", "senderMessages", "text"}</c> as JSON, signed (<see cref="WebhookSignature"/>),
/// and waits at most <c>Timeout</c> for <c>{"allow": true}</c> or <c>{"allow": false, "msg": "…"}</c>. No answer
/// in time, an error status or an answer that says neither counts as a failure (metric
/// <c>chat_filter_webhook_failures_total{reason}</c>), and the message is then let through or refused
/// as <c>OnFailure</c> says.
/// </summary>
internal sealed partial class WebhookFilter(
    IHttpClientFactory clients,
    IOptions<FilterOptions> options,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<WebhookFilter> logger) : IMessageFilter
{
    public const string FilterName = "webhook";

    /// <summary>The named HttpClient the webhook posts with.</summary>
    public const string ClientName = "chat.filter.webhook";

    /// <summary>Longer than any sensible answer: anything bigger is a failure, not read.</summary>
    private const int MaxAnswerBytes = 16 * 1024;

    private const int MaxMessageLength = 300;

    private readonly WebhookFilterOptions _options = options.Value.Webhook;
    private readonly Uri _url = new(options.Value.Webhook.Url!);
    private readonly string _secret = options.Value.Webhook.ResolveSecret()!;
    private int _failing;

    public string Name => FilterName;

    public async ValueTask<FilterVerdict> CheckAsync(FilteredMessage message, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new ClassifierQuestion(message.SessionId, message.SenderId, message.SenderMessages, message.Content), WebhookJson.Default.ClassifierQuestion);
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(body, _secret));

        using var deadline = new CancellationTokenSource(_options.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        string reason;
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            if (!response.IsSuccessStatusCode)
            {
                reason = "status";
            }
            else if (await ReadAnswerAsync(response, linked.Token) is { } answer)
            {
                Recovered();
                return answer.IsAllowed ? FilterVerdict.Pass : FilterVerdict.Refuse(Shorten(answer.Msg) ?? _options.Message);
            }
            else
            {
                reason = "answer";
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            reason = "timeout";
        }
        catch (HttpRequestException)
        {
            reason = "unreachable";
        }

        metrics.FilterWebhookFailed(reason);
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            Log.Failed(logger, reason, _options.FailClosed ? "refused" : "let through"); // once until it answers again, not per message
        }

        return _options.FailClosed ? FilterVerdict.Refuse(_options.UnavailableMessage) : FilterVerdict.Pass;
    }

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _failing, 0) == 1)
        {
            Log.Recovered(logger);
        }
    }

    private static async Task<ClassifierAnswer?> ReadAnswerAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxAnswerBytes)
        {
            return null;
        }

        var buffer = new byte[MaxAnswerBytes + 1];
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        if (length > MaxAnswerBytes)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(buffer.AsSpan(0, length), WebhookJson.Default.ClassifierAnswer) is { Allow: not null } answer
                ? answer
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Shorten(string? msg) =>
        string.IsNullOrWhiteSpace(msg) ? null : msg.Length <= MaxMessageLength ? msg : msg[..MaxMessageLength];

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The filter webhook failed ({Reason}): messages are {Outcome} until it answers again, as Chat:Filter:Webhook:OnFailure says.")]
        public static partial void Failed(ILogger logger, string reason, string outcome);

        [LoggerMessage(2, LogLevel.Information, "The filter webhook answers again.")]
        public static partial void Recovered(ILogger logger);
    }
}

internal sealed record ClassifierQuestion(ulong SessionId, ulong SenderId, int SenderMessages, string Text);

internal sealed record ClassifierAnswer(bool? Allow, string? Msg)
{
    public bool IsAllowed => Allow == true;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(ClassifierQuestion))]
[JsonSerializable(typeof(ClassifierAnswer))]
internal sealed partial class WebhookJson : JsonSerializerContext;
