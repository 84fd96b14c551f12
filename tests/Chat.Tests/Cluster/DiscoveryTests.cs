using Chat.Host;
using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Cluster;

/// <summary>
/// Brokers find logic nodes in etcd, and keep what they saw while etcd is away. etcd runs as a cluster's
/// should (TLS, client certificates, a user per role), and so do the nodes (TLS between them).
/// </summary>
public sealed class DiscoveryTests
{
    [Fact]
    public async Task Chats_go_on_while_etcd_is_away_and_a_logic_node_started_meanwhile_is_found_once_it_is_back()
    {
        using var folder = TempFolder.Create("chat-discovery-");
        var certificates = await ClusterCertificates.MakeInAsync(folder.File("tls"));
        var logicUser = new EtcdUser("chat-logic", "logic's password", NodeSettings.EtcdPrefix, Write: true);
        var brokerUser = new EtcdUser("chat-broker", "broker's password", NodeSettings.EtcdPrefix, Write: false);
        await using var etcd = await EtcdServer.StartAsync(certificates.EtcdSecurity("root's password", [logicUser, brokerUser]));
        string[] Etcd(EtcdUser user)
        {
            var passwordFile = folder.File(user.Name + ".password");
            File.WriteAllText(passwordFile, user.Password + "\n");
            return [$"Chat:Cluster:Etcd={etcd.ClientUrl}", $"Chat:Cluster:EtcdUser={user.Name}", $"Chat:Cluster:EtcdPasswordFile={passwordFile}"];
        }

        var store = folder.File("chat.db");
        var logic = await ChatNode.StartAsync(ChatRole.Logic, [.. Etcd(logicUser), $"Chat:Store:Path={store}"], certificates);
        await using var broker = await ChatNode.StartAsync(ChatRole.Broker, Etcd(brokerUser), certificates);
        await broker.WaitUntilReadyAsync(); // the logic node registers in etcd as it starts
        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(broker, "alice"), VisitorAsync(broker, "bob"));
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "found through etcd")).Code());
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "found through etcd");

        // etcd goes away: the broker keeps the logic node it saw.
        await etcd.StopAsync();
        Assert.Equal(0, (await alice.SayAsync(sessionId, "etcd is away")).Code());
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "etcd is away");

        // Meanwhile the logic node is replaced by one on another port (the same store): it cannot register yet.
        await logic.DisposeAsync();
        await using var replacement = await ChatNode.StartAsync(ChatRole.Logic, [.. Etcd(logicUser), $"Chat:Store:Path={store}"], certificates);

        // etcd comes back (its users kept, every token it gave forgotten): the new node registers, the broker finds it, and the chat goes on.
        await etcd.StartAgainAsync();
        var sent = await RetriedUntilSentAsync(alice, sessionId, "you are back");
        var received = await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "you are back");
        Assert.Equal(sent, received.ULong("msgId"));
    }

    /// <summary>Sends with one requestId until logic answers (InternalErr while the broker knows no live node).</summary>
    private static async Task<ulong> RetriedUntilSentAsync(TestClient client, ulong sessionId, string content)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var answer = await client.SayAsync(sessionId, content, requestId: "the-one");
            if (answer.Code() == 0)
            {
                return answer.ULong("msgId");
            }

            Assert.True(answer.Code() == 2 && DateTime.UtcNow < deadline, $"code {answer.Code()}");
            await Task.Delay(200); // the web client's own retry waits too; there is no event to await here
        }
    }

    private static async Task<TestClient> VisitorAsync(ChatNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        await client.CreateAccountAsync(nickName);
        return client;
    }
}
