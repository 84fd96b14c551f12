using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Chat.Testing;
using Chat.Testing.Cluster;

namespace Chat.Tests.Cluster;

/// <summary>The rule against an instant rematch holds whichever logic node the two ask through.</summary>
public sealed class RematchAcrossNodesTests
{
    [Fact]
    public async Task Two_who_just_chatted_are_not_paired_again_through_another_node_until_the_window_has_passed()
    {
        await using var cluster = await LogicCluster.StartAsync(2, "Chat:Matching:RematchAfter=00:01:00");
        var alice = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "alice");
        var bob = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[1]), "bob");
        Assert.Equal(ResultCode.NoDataFound, (await alice.MatchAsync()).Code);
        var first = await bob.MatchAsync();
        Assert.Equal(alice.AccountId, first.PartnerId);
        await alice.ExpectSignalAsync(SignalKind.NewSession);

        // Alice skips Bob on one node; both ask again, each through the other node.
        Assert.Equal(ResultCode.Success, await cluster.LogicOn(cluster.Silos[0]).EndSessionAsync(alice.AccountId, first.SessionId, CancellationToken.None).AsTask().Within(ClusterVisitor.Timeout, "EndSession"));
        (alice.Logic, bob.Logic) = (cluster.LogicOn(cluster.Silos[1]), cluster.LogicOn(cluster.Silos[0]));
        Assert.Equal(ResultCode.NoDataFound, (await alice.MatchAsync()).Code);
        Assert.Equal(ResultCode.NoDataFound, (await bob.MatchAsync()).Code);

        cluster.Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(ResultCode.NoDataFound, (await alice.MatchAsync()).Code);
        Assert.Equal(ResultCode.NoDataFound, (await bob.MatchAsync()).Code);

        // Someone new is fine at once.
        var carol = await ClusterVisitor.CreateAsync(cluster.Broker, cluster.LogicOn(cluster.Silos[0]), "carol");
        var withCarol = await carol.MatchAsync();
        Assert.Equal(ResultCode.Success, withCarol.Code);
        Assert.Contains(withCarol.PartnerId, new[] { alice.AccountId, bob.AccountId });
        var left = withCarol.PartnerId == alice.AccountId ? bob : alice;
        var other = left == alice ? bob : alice;

        // A minute on, the one left may meet the other again (who asks anew: it is with Carol now, and may chat twice at once).
        cluster.Clock.Advance(TimeSpan.FromSeconds(1));
        var again = await other.MatchAsync();
        Assert.Equal(ResultCode.Success, again.Code);
        Assert.Equal(left.AccountId, again.PartnerId);
        Assert.NotEqual(first.SessionId, again.SessionId);
    }
}
