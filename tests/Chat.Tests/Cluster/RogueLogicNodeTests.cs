using System.Text.Json;
using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Chat.Tests.Cluster;

/// <summary>
/// The attack the discovery used to allow: whoever can write one key in etcd registers a "logic node"
/// of their own, and brokers sent it the cluster's secret, visitors' tokens and messages. Against a
/// real cluster (etcd on TLS with users, MariaDB, two logic nodes, two brokers, all on TLS).
/// </summary>
public sealed class RogueLogicNodeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_logic_node_registered_in_etcd_without_a_logic_certificate_of_the_cluster_is_sent_nothing_and_chats_go_on()
    {
        await using var cluster = await ProcessCluster.StartAsync();
        using var folder = TempFolder.Create("chat-rogue-");
        var stranger = await ClusterCertificates.MakeInAsync(folder.File("stranger"));
        await stranger.IssueNodeAsync("rogue", "logic", "127.0.0.1:1", CancellationToken.None);
        var ours = new ClusterCertificates(cluster.Folder.Tls);
        await ours.IssueNodeAsync("turncoat", "broker", "127.0.0.1:2", CancellationToken.None); // a broker's certificate of the cluster, posing as logic

        await using var noCertificate = await RogueNode.StartAsync(null);
        await using var anotherCa = await RogueNode.StartAsync(stranger.Load("rogue"));
        await using var wrongRole = await RogueNode.StartAsync(ours.Load("turncoat"));
        RogueNode[] rogues = [noCertificate, anotherCa, wrongRole];

        // The attacker has a logic node's etcd password (brokers' may only read), and registers the seed's way.
        using (var etcd = cluster.Etcd!.Client(ProcessCluster.LogicEtcdUser))
        {
            for (var i = 0; i < rogues.Length; i++)
            {
                await etcd.PutAsync($"{NodeSettings.EtcdPrefix}rogue-{i}", JsonSerializer.Serialize(new Dictionary<string, string> { ["Addr"] = rogues[i].Address }));
            }
        }

        // Visitors chat across the brokers until each broker has tried every rogue (a node that failed sits out 10 s,
        // so each is tried again now and then): every request is answered, every message arrives.
        var deadline = DateTime.UtcNow + Limit;
        var exchanged = 0;
        while (rogues.Any(rogue => rogue.Connections == 0))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the brokers never dialed every rogue within {Limit.TotalSeconds:0} s (connections: {string.Join(", ", rogues.Select(r => r.Connections))})\n{cluster.Output}");
            var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(cluster.Brokers[0], $"alice{exchanged}"), VisitorAsync(cluster.Brokers[1], $"bob{exchanged}"));
            await using var a = alice;
            await using var b = bob;
            Assert.Equal(0, (await alice.SayAsync(sessionId, $"secret plans {exchanged}")).Code());
            Assert.Equal($"secret plans {exchanged}", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
            Assert.Equal(0, (await bob.SayAsync(sessionId, $"reply {exchanged}")).Code());
            Assert.Equal($"reply {exchanged}", (await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
            exchanged++;
        }

        output.WriteLine($"{exchanged} pairs chatted; connections to the rogues: {string.Join(", ", rogues.Select(r => r.Connections))}");
        foreach (var rogue in rogues)
        {
            Assert.Empty(rogue.Calls); // no call: no secret, no token, no message
        }
    }

    private static async Task<TestClient> VisitorAsync(ChildNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }
}
