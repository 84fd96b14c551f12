using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Cluster;

/// <summary>The limits on one account hold the same with broker and logic on nodes of their own (what they say crosses gRPC).</summary>
public sealed class LimitsAcrossNodesTests
{
    [Fact]
    public async Task Through_a_broker_of_a_cluster_a_reconnect_past_the_allowance_gets_retryAfter_and_a_match_past_the_cap_its_msg()
    {
        await using var logic = await ChatNode.StartLogicAsync("Chat:Logic:ReconnectBurst=1", "Chat:Logic:ReconnectInterval=01:00:00", "Chat:Logic:MaxActiveSessions=1");
        await using var broker = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        await using var alice = await TestClient.ConnectAsync(broker.WebSocketUri);
        await alice.CreateAccountAsync("alice");
        await using var bob = await TestClient.ConnectAsync(broker.WebSocketUri);
        await bob.CreateAccountAsync("bob");
        Assert.Equal(4, (await alice.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());
        Assert.Equal(0, (await bob.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP")).Code());

        var refused = await bob.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
        Assert.Equal((1, "you are in a chat already: end it to meet someone new"), (refused.Code(), refused.String("msg")));

        var (again, resumed) = await bob.ReconnectOnNewSocketAsync(broker.WebSocketUri);
        await using var b1 = again;
        Assert.Equal(0, resumed.Code());
        var (more, limited) = await bob.ReconnectOnNewSocketAsync(broker.WebSocketUri);
        await using var b2 = more;
        Assert.Equal(5, limited.Code());
        Assert.InRange(limited.Root.GetProperty("retryAfter").GetInt32(), 3500, 3600);
    }
}
