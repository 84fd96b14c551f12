using System.Net.WebSockets;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Security;

/// <summary>
/// Every frame costs its sender: one that is not JSON is charged to the rate limit like any other,
/// and one that arrives slowly must still arrive whole within the frame deadline.
/// </summary>
public sealed class EveryFramePaysTests
{
    [Fact]
    public async Task Frames_that_are_not_JSON_are_charged_to_the_rate_limit_and_a_flood_of_them_is_closed_with_1008()
    {
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1", "Chat:Broker:RateLimit:Burst=5", "Chat:Broker:RateLimit:MaxRefusedInARow=20");
        await using var bystanders = await ChattingPair.StartAsync(server);
        await using var flooder = await server.ConnectAsync();

        for (var i = 0; i < 500 && !flooder.Closed.IsCompleted; i++)
        {
            try
            {
                await flooder.SendTextAsync($"not json {i}");
            }
            catch (WebSocketException)
            {
                break; // closed under us
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await flooder.Closed.WaitAsync(TestClient.Timeout));
        var answers = flooder.Snapshot().Where(f => f.Cmd == "ERROR_RESP").ToList();
        Assert.Contains(answers, f => f.Code() == 1); // within the burst: "not JSON"
        Assert.Contains(answers, f => f.Code() == 5); // past it: refused for the rate, unread
        Assert.True(answers.Count < 100, $"{answers.Count} answers to a flood the limit allows 5 + 20 of");
        await bystanders.AssertStillChattingAsync();
    }

    [Fact]
    public async Task A_frame_kept_half_sent_is_closed_at_the_frame_deadline_and_its_chat_waits_for_a_reconnect()
    {
        // Silence would take five minutes here: only the frame deadline can close the socket in time.
        await using var server = await ChatServer.StartAsync("Chat:Broker:FrameDeadline=00:00:01", "Chat:Broker:SilenceTimeout=00:05:00");
        await using var bystanders = await ChattingPair.StartAsync(server);
        var (alice, bob, _) = await server.NewPairAsync("alice", "bob");
        await using var a = alice;
        await using var b = bob;

        alice.AnswerPings = false;
        await alice.SendPartOfAFrameAsync("{\"cmd\":\"DIALOGUE_REQ\",\"content\":\"" + new string('x', 8000));

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await alice.Closed.WaitAsync(TestClient.Timeout));
        var away = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        Assert.Equal(alice.AccountId, away.DataAccountId);
        await bystanders.AssertStillChattingAsync();
    }
}
