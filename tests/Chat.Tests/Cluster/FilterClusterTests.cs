using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Cluster;

/// <summary>
/// The message filter on the distributed `chat` (two logic nodes, two brokers as child processes):
/// a link in a first message is refused with DIALOGUE_RESP code 1 and a msg whichever logic node the
/// broker asks, the session's own or the other one, and nothing reaches the partner on the other broker.
/// </summary>
public sealed class FilterClusterTests
{
    private static async Task<TestClient> VisitorAsync(ProcessCluster cluster, int broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(cluster.Brokers[broker].WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }

    [Fact]
    public async Task A_link_in_a_first_message_is_refused_with_code_1_and_a_msg_through_either_logic_node_and_never_reaches_the_partner()
    {
        await using var cluster = await ProcessCluster.StartAsync(2, 2);
        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(cluster, 0, "alice"), VisitorAsync(cluster, 1, "bob"));
        await using var a = alice;
        await using var b = bob;

        // The broker asks the two logic nodes in turn: of two sends in a row, one goes through the node
        // the session's grain does not live on. A refused message does not count as one of the first three.
        foreach (var spam in new[] { "add me: snap: hotgirl99", "see https://spam.example/x" })
        {
            var refused = await bob.SayAsync(sessionId, spam);
            Assert.Equal(1, refused.Code());
            Assert.Contains("first 3 messages", refused.String("msg"), StringComparison.Ordinal);
        }

        var fine = await bob.SayAsync(sessionId, "hello from the other broker");
        Assert.Equal(0, fine.Code());
        var delivered = await alice.ExpectAsync("PUSH_DIALOGUE_REQ"); // the first push she gets: no refused one came before it
        Assert.Equal("hello from the other broker", delivered.String("content"));
        Assert.DoesNotContain(alice.Snapshot(), f => f.Cmd == "PUSH_DIALOGUE_REQ");
    }
}
