using System.Text.Json;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Filtering;

/// <summary>
/// An operator's classifier (a <see cref="WebhookReceiver"/>): refuses texts with "spam" (with its own
/// msg), holds texts with "slow" unanswered until disposed, allows the rest.
/// </summary>
internal static class ClassifierStub
{
    public const string Secret = WebhookReceiver.Secret;

    public static Task<WebhookReceiver> StartAsync() => WebhookReceiver.StartAsync(
        answer: question => Text(question).Contains("spam", StringComparison.Ordinal)
            ? """{"allow": false, "msg": "The classifier says: no spam."}"""
            : """{"allow": true}""",
        hold: question => Text(question).Contains("slow", StringComparison.Ordinal));

    private static string Text(JsonElement question) => question.GetProperty("text").GetString()!;
}
