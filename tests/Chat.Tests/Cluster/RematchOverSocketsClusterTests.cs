using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Cluster;

/// <summary>
/// Issue 22's "no instant rematch" on the distributed `chat` (MariaDB, etcd, two logic nodes, two
/// brokers as child processes), over real sockets: two who just ended a chat are not paired again,
/// whichever broker and logic node each asks through, while a newcomer is paired with either at once.
/// </summary>
public sealed class RematchOverSocketsClusterTests
{
    [Fact]
    public async Task Two_who_just_chatted_through_different_brokers_are_not_paired_again_but_newcomers_are_paired_with_them()
    {
        await using var cluster = await ProcessCluster.StartAsync(2, 2, "Chat:Broker:Upstream:CallTimeout=00:00:30");
        await using var alice = await VisitorAsync(cluster, 0, "198.51.100.1", "alice");
        await using var bob = await VisitorAsync(cluster, 1, "198.51.100.2", "bob");

        Assert.Equal(4, (await MatchAsync(alice)).Code());
        var matched = await MatchAsync(bob);
        Assert.Equal(0, matched.Code());
        Assert.Equal(alice.AccountId, matched.ULong("partnerId"));
        var sessionId = matched.ULong("sessionId");
        Assert.Equal(0, (await bob.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId }, "END_SESSION_RESP")).Code());
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");

        // Both ask again, more than once each (a broker spreads its calls over the logic nodes): never each other.
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(4, (await MatchAsync(alice)).Code());
            Assert.Equal(4, (await MatchAsync(bob)).Code());
        }

        // Newcomers, one through each broker, are paired with them at once: the two wait, they are not stuck.
        await using var carol = await VisitorAsync(cluster, 1, "198.51.100.3", "carol");
        var withCarol = await MatchAsync(carol);
        Assert.Equal(0, withCarol.Code());
        await using var dave = await VisitorAsync(cluster, 0, "198.51.100.4", "dave");
        var withDave = await MatchAsync(dave);
        Assert.Equal(0, withDave.Code());
        Assert.Equal(
            new[] { alice.AccountId, bob.AccountId }.Order(),
            new[] { withCarol.ULong("partnerId"), withDave.ULong("partnerId") }.Order());
    }

    private static async Task<TestClient> VisitorAsync(ProcessCluster cluster, int broker, string address, string nickName)
    {
        var client = await TestClient.ConnectAsync(cluster.Brokers[broker].WebSocketUri, null, ("X-Forwarded-For", address));
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }

    private static Task<Frame> MatchAsync(TestClient client) => client.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
}
