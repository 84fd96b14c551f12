using Chat.Testing.Cluster;
using Chat.Protocol.Grpc;
using Chat.Testing;
using Chat.Testing.Files;
using Chat.Testing.Processes;
using Chat.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;

namespace Chat.Tests.Cluster;

/// <summary>
/// A MATCH_REQ whose answer the broker stopped waiting for: the visitor heard "try again" (code 2)
/// while the logic node, once its store answered, paired it. The visitor hears of the chat as a
/// partner does (NewSession), and asking again, as the seed's client does after any failed
/// MATCH_REQ, it is given that chat, not put in the pool for a second one while its partner talks
/// to nobody.
/// </summary>
public sealed class LostMatchAnswerTests
{
    [Fact]
    public async Task A_visitor_told_try_again_while_it_was_being_paired_hears_of_its_chat_and_is_given_it_when_it_asks_again()
    {
        using var folder = TempFolder.Create("chat-lost-answer-");
        await using var cluster = await ProcessCluster.StartAsync(
            new ClusterPlan(new ClusterFolder(folder.Path), ChatExecutable.Dll, ChatExecutable.DotnetHost)
            {
                LogicNodes = 1,
                Brokers = 1,
                OwnDatabase = true, // stopped below
                Settings = ["Logging:LogLevel:Default=Warning", .. LimitSettings.Off, "Chat:Broker:Upstream:CallTimeout=00:00:01"],
            },
            CancellationToken.None);
        var broker = cluster.Brokers[0];
        await using var alice = await TestClient.ConnectAsync(broker.WebSocketUri);
        await using var bob = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await alice.CreateAccountAsync("alice")).Code());
        Assert.Equal(0, (await bob.CreateAccountAsync("bob")).Code());
        Assert.Equal(4, (await MatchAsync(alice)).Code()); // waiting

        // Bob asks while the database is stopped: the logic node pairs the two but cannot write the
        // session, and the broker gives up on the call (after 1 s). The database runs again at once,
        // within the node's 2 s to connect: the node writes the session and tells Alice, its answer
        // to Bob going nowhere.
        var database = cluster.MariaDb!;
        database.Pause();
        Frame first;
        try
        {
            first = await MatchAsync(bob);
        }
        finally
        {
            database.Resume();
        }

        Assert.Equal(2, first.Code());

        // Bob hears of the chat as a partner would (NewSession), once the node has made it.
        var joined = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession", TimeSpan.FromSeconds(30));
        var told = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession", TimeSpan.FromSeconds(30));
        var sessionId = joined.ULong("sessionId");
        Assert.Equal(sessionId, told.ULong("sessionId"));
        Assert.Equal((alice.AccountId, "alice"), (told.DataAccountId, told.Root.GetProperty("data").GetProperty("nickName").GetString()));

        // Asking again, as the seed's client does after a failed MATCH_REQ (its retry may be on its
        // way when NewSession comes), he is given that chat, not a place in the pool for a second one.
        var again = await MatchAsync(bob);
        Assert.Equal(0, again.Code());
        Assert.Equal((sessionId, alice.AccountId, "alice"), (again.ULong("sessionId"), again.ULong("partnerId"), again.String("partnerName")));

        // One chat, both ways.
        Assert.Equal(0, (await bob.SayAsync(sessionId, "hello")).Code());
        Assert.Equal("hello", (await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.Equal(0, (await alice.SayAsync(sessionId, "hi bob")).Code());
        Assert.Equal("hi bob", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        await bob.BarrierAsync();
        Assert.DoesNotContain(alice.TakeAll("PUSH_SIGNAL_REQ").Concat(bob.TakeAll("PUSH_SIGNAL_REQ")), f => f.String("signalType") == "NewSession" && f.ULong("sessionId") != sessionId);
    }

    [Fact]
    public async Task A_match_request_a_broker_marks_as_after_a_lost_answer_is_given_the_chat_made_for_the_lost_one_and_never_starts_a_second()
    {
        await using var logic = await ChatNode.StartLogicAsync();
        await using var seedBroker = await SeedBroker.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://{logic.GrpcAddress}");
        var dealer = new LogicDealer.LogicDealerClient(channel);
        var alice = await dealer.CreateAccountAsync(new CreateAccountRequest { Nickname = "alice", Broker = seedBroker.Address }, ChatNode.WithSecret);
        var bob = await dealer.CreateAccountAsync(new CreateAccountRequest { Nickname = "bob", Broker = seedBroker.Address }, ChatNode.WithSecret);
        Assert.Equal(CodeEnum.NoDataFound, (await dealer.MatchAsync(new MatchRequest { AccountId = alice.AccountId }, ChatNode.WithSecret)).Code);
        var paired = await dealer.MatchAsync(new MatchRequest { AccountId = bob.AccountId }, ChatNode.WithSecret);
        Assert.Equal(CodeEnum.Success, paired.Code);

        // Bob's broker had given up on that call (say): his next request says so, and is given the same chat.
        var again = await dealer.MatchAsync(new MatchRequest { AccountId = bob.AccountId, AfterLostAnswer = true }, ChatNode.WithSecret);
        Assert.Equal((CodeEnum.Success, paired.SessionId, alice.AccountId, "alice"), (again.Code, again.SessionId, again.PartnerId, again.PartnerName));

        // Once. A further marked request is not taken for a wish for a second chat either (the lost one
        // might have left him waiting, and taken since): it waits outside the pool, so Carol does not get him.
        Assert.Equal(CodeEnum.NoDataFound, (await dealer.MatchAsync(new MatchRequest { AccountId = bob.AccountId, AfterLostAnswer = true }, ChatNode.WithSecret)).Code);
        var carol = await dealer.CreateAccountAsync(new CreateAccountRequest { Nickname = "carol", Broker = seedBroker.Address }, ChatNode.WithSecret);
        Assert.Equal(CodeEnum.NoDataFound, (await dealer.MatchAsync(new MatchRequest { AccountId = carol.AccountId }, ChatNode.WithSecret)).Code);

        // An unmarked one asks for a second chat (he may have up to three): Carol, waiting.
        var second = await dealer.MatchAsync(new MatchRequest { AccountId = bob.AccountId }, ChatNode.WithSecret);
        Assert.Equal((CodeEnum.Success, carol.AccountId), (second.Code, second.PartnerId));
        Assert.NotEqual(paired.SessionId, second.SessionId);
    }

    private static Task<Frame> MatchAsync(TestClient client) => client.RequestAsync(new { cmd = "MATCH_REQ", accountId = client.AccountId }, "MATCH_RESP");
}
