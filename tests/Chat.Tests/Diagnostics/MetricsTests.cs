using Chat.Tests.Infrastructure;
using static Chat.Tests.Infrastructure.Exposition;

namespace Chat.Tests.Diagnostics;

/// <summary>
/// Meters are matched by name process-wide, so other test servers' traffic would show up here:
/// this collection runs alone.
/// </summary>
[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsCollection;

[Collection(nameof(MetricsTests))]
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_count_a_chat()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        await using var waiting = await server.NewVisitorAsync("waiting");
        await waiting.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");

        for (var i = 0; i < 3; i++)
        {
            await alice.SayAsync(sessionId, $"m{i}");
            await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        }

        Assert.Equal(1, (await alice.SayAsync(sessionId, new string('x', 5000))).Code()); // an error by code

        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(server.HttpUri, "/metrics"));

        Assert.Equal(3, Value(text, "chat_messages_stored_total"));
        Assert.Equal(3, Value(text, "chat_messages_delivered_total"));
        Assert.Equal(1, Value(text, "chat_sessions_started_total"));
        Assert.Equal(1, Value(text, "chat_sessions_active"));
        Assert.Equal(3, Value(text, "chat_accounts_online"));
        Assert.Equal(1, Value(text, "chat_matching_waiting"));
        Assert.Equal(3, Value(text, "chat_broker_connections"));
        Assert.Equal(1, Value(text, "chat_broker_errors_total", "code=\"1\""));
        Assert.True(Value(text, "chat_store_commit_batch_size_count") >= 6); // 3 accounts, 1 session, 3 messages, in batches
        Assert.Contains("chat_store_commit_duration_seconds_bucket", text, StringComparison.Ordinal);
    }
}
