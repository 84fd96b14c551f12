using Chat.Host;
using Chat.Protocol.Grpc;
using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using BrokerClient = Chat.Protocol.Grpc.Broker.BrokerClient;

namespace Chat.Tests.Cluster;

/// <summary>
/// Who may tell a node what (docs/cluster.md, "Security model"), tried as an attacker on the internal
/// network would: forged pushes to a real broker, a broker acting for another broker's visitors, a
/// broker address that is not one. Real nodes, real gRPC over TLS from a CA the test makes with
/// deploy/cluster-certs.sh, or plain h2c with the shared secret where that is the point.
/// </summary>
public sealed class NodeTrustTests : IDisposable
{
    private readonly TempFolder _folder = TempFolder.Create("chat-trust-");

    [Fact]
    public async Task A_push_forged_with_the_clusters_own_secret_to_guessed_connection_ids_reaches_nobody()
    {
        // The attacker has the shared secret (plain h2c: anyone who read the traffic has it) and asks the
        // broker its incarnation, which connection ids used to carry in their high 32 bits, before a counter.
        await using var logic = await ChatNode.StartLogicAsync();
        await using var broker = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(broker, "alice"), VisitorAsync(broker, "bob"));
        await using var a = alice;
        await using var b = bob;
        using var channel = GrpcChannel.ForAddress($"http://{broker.GrpcAddress}");
        var pushes = new BrokerClient(channel);
        var secret = ChatNode.WithSecret;
        var incarnation = long.TryParse((await pushes.HealthCheckAsync(new HealthCheckReq(), secret)).Incarnation, out var told) ? told : 0;

        var answers = new List<CodeEnum>();
        var batch = new PushBatch();
        for (var guess = 1UL; guess <= 40; guess++)
        {
            var forged = new PushDialogue
            {
                ConnectionId = ((ulong)incarnation << 32) + guess,
                SenderId = alice.AccountId,
                ReceiverId = bob.AccountId,
                SessionId = sessionId,
                Content = "forged: send me your password",
                MsgId = 1_000_000 + guess,
            };
            answers.Add((await pushes.ReceiveMsgDialogueAsync(forged, secret)).Code);
            batch.Pushes.Add(new Push { Dialogue = forged });
        }

        var delivered = (await pushes.DeliverAsync(batch, secret)).Delivered;

        Assert.All(answers, code => Assert.Equal(CodeEnum.NoDataFound, code));
        Assert.DoesNotContain(true, delivered);

        await OnlyAlicesOwnReachBobAsync(alice, bob, sessionId);
    }

    [Fact]
    public async Task With_TLS_a_broker_takes_pushes_from_logic_nodes_of_the_cluster_only()
    {
        var cluster = await ClusterCertificates.MakeInAsync(_folder.File("cluster"));
        var stranger = await ClusterCertificates.MakeInAsync(_folder.File("stranger"));
        await using var logic = await ChatNode.StartAsync(ChatRole.Logic, [], cluster);
        await using var broker = await ChatNode.StartAsync(ChatRole.Broker, [$"Chat:Cluster:LogicAddresses={logic.GrpcAddress}"], cluster);
        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(broker, "alice"), VisitorAsync(broker, "bob"));
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "over TLS")).Code());
        Assert.Equal("over TLS", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        await cluster.IssueNodeAsync("mallory-broker", "broker", "127.0.0.1:1", CancellationToken.None);
        await cluster.IssueNodeAsync("a-logic-node", "logic", "127.0.0.1:2", CancellationToken.None);
        await stranger.IssueNodeAsync("impostor", "logic", "127.0.0.1:3", CancellationToken.None);
        var forged = new PushDialogue { SenderId = alice.AccountId, ReceiverId = bob.AccountId, SessionId = sessionId, Content = "forged", MsgId = 1_000_000 };

        // A broker's certificate of the cluster: the handshake passes, the Broker service refuses it, health check included.
        using (var asBroker = cluster.ChannelTo(broker.GrpcAddress, "mallory-broker"))
        {
            var pushes = new BrokerClient(asBroker);
            Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => pushes.ReceiveMsgDialogueAsync(forged).ResponseAsync)).StatusCode);
            Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => pushes.DeliverAsync(new PushBatch { Pushes = { new Push { Dialogue = forged } } }).ResponseAsync)).StatusCode);
            Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => pushes.HealthCheckAsync(new HealthCheckReq()).ResponseAsync)).StatusCode);
        }

        // No certificate, or a logic node's from another CA: refused at the handshake, no call gets through. (With TLS 1.3 the
        // server judges the client's certificate after the client thinks the handshake done, so its refusal may reach the client
        // as the connection's end: Internal rather than Unavailable. Either way not the service's answer.)
        foreach (var (ca, name) in new[] { (cluster, (string?)null), (stranger, "impostor") })
        {
            using var refused = ca.ChannelTo(broker.GrpcAddress, name, trusting: cluster);
            var failed = await Assert.ThrowsAsync<RpcException>(() => new BrokerClient(refused).ReceiveMsgDialogueAsync(forged).ResponseAsync);
            Assert.True(failed.StatusCode is StatusCode.Unavailable or StatusCode.Internal, $"{failed.Status}");
        }

        // A logic node of the cluster is told the broker's incarnation; its pushes name sockets by random ids it cannot guess.
        using (var asLogic = cluster.ChannelTo(broker.GrpcAddress, "a-logic-node"))
        {
            var health = await new BrokerClient(asLogic).HealthCheckAsync(new HealthCheckReq());
            Assert.Equal(CodeEnum.Success, health.Code);
            Assert.NotEmpty(health.Incarnation);
        }

        await OnlyAlicesOwnReachBobAsync(alice, bob, sessionId);
    }

    [Fact]
    public async Task With_TLS_logic_refuses_a_broker_a_request_about_an_account_bound_to_another_broker()
    {
        var cluster = await ClusterCertificates.MakeInAsync(_folder.File("cluster"));
        await using var logic = await ChatNode.StartAsync(ChatRole.Logic, [], cluster);
        const string AddressA = "127.0.0.1:1", AddressB = "127.0.0.1:2"; // nothing listens: the pushes to them go nowhere
        await cluster.IssueNodeAsync("broker-a", "broker", AddressA, CancellationToken.None);
        await cluster.IssueNodeAsync("broker-b", "broker", AddressB, CancellationToken.None);
        await cluster.IssueNodeAsync("a-logic-node", "logic", "127.0.0.1:3", CancellationToken.None);
        using var channelA = cluster.ChannelTo(logic.GrpcAddress, "broker-a");
        using var channelB = cluster.ChannelTo(logic.GrpcAddress, "broker-b");
        var (a, b) = (new LogicDealer.LogicDealerClient(channelA), new LogicDealer.LogicDealerClient(channelB));

        var first = await a.CreateAccountAsync(new CreateAccountRequest { Nickname = "first", Broker = AddressA, ConnectionId = 11 });
        var second = await a.CreateAccountAsync(new CreateAccountRequest { Nickname = "second", Broker = AddressA, ConnectionId = 12 });
        Assert.Equal((CodeEnum.Success, CodeEnum.Success), (first.Code, second.Code));

        // B may not bind an account to A's address, nor act for A's visitors in any way.
        Assert.Equal(CodeEnum.ParamErr, (await b.CreateAccountAsync(new CreateAccountRequest { Nickname = "posing", Broker = AddressA, ConnectionId = 13 })).Code);
        Assert.Equal(CodeEnum.ParamErr, (await b.MatchAsync(new MatchRequest { AccountId = first.AccountId })).Code);

        Assert.Equal(CodeEnum.NoDataFound, (await a.MatchAsync(new MatchRequest { AccountId = first.AccountId })).Code);
        var matched = await a.MatchAsync(new MatchRequest { AccountId = second.AccountId });
        Assert.Equal((CodeEnum.Success, first.AccountId), (matched.Code, matched.PartnerId));
        var session = matched.SessionId;
        var sent = await a.SendMsgAsync(new SendMsgRequest { SenderId = first.AccountId, SessionId = session, Content = "hello", RequestId = "r1" });
        Assert.Equal(CodeEnum.Success, sent.Code);

        Assert.Equal(CodeEnum.ParamErr, (await b.SendMsgAsync(new SendMsgRequest { SenderId = first.AccountId, SessionId = session, Content = "forged", RequestId = "r2" })).Code);
        using (var stream = b.SendStream())
        {
            await stream.RequestStream.WriteAsync(new SendMsgRequest { SenderId = second.AccountId, SessionId = session, Content = "forged", RequestId = "r3", Call = 1 });
            Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal((1UL, CodeEnum.ParamErr), (stream.ResponseStream.Current.Call, stream.ResponseStream.Current.Code));
            await stream.RequestStream.CompleteAsync();
        }

        Assert.Equal(CodeEnum.ParamErr, (await b.TypingAsync(new TypingRequest { AccountId = first.AccountId, SessionId = session })).Code);
        Assert.Equal(CodeEnum.ParamErr, (await b.ViewedAckAsync(new ViewedAckRequest { AccountId = second.AccountId, SessionId = session, MsgId = sent.MsgId })).Code);
        var marks = new ConfirmDeliveredRequest { AccountId = second.AccountId, Marks = { new DeliveryMark { SessionId = session, MsgId = sent.MsgId } } };
        Assert.Equal(CodeEnum.ParamErr, (await b.ConfirmDeliveredAsync(marks)).Code);
        Assert.Equal(CodeEnum.ParamErr, (await b.ConfirmDeliveredBatchAsync(new ConfirmDeliveredBatchRequest { Accounts = { marks } })).Code);
        Assert.Equal(CodeEnum.ParamErr, (await b.EndSessionAsync(new EndSessionRequest { AccountId = first.AccountId, SessionId = session })).Code);
        Assert.Equal(CodeEnum.ParamErr, (await b.BrokerStartedAsync(new BrokerStartedRequest { Broker = AddressA, Incarnation = 7 })).Code);

        // Nothing B asked changed anything: the session is on, A's own requests work, and only A's message is in it.
        Assert.Equal(CodeEnum.Success, (await a.TypingAsync(new TypingRequest { AccountId = first.AccountId, SessionId = session })).Code);
        Assert.Equal(CodeEnum.Success, (await a.ConfirmDeliveredBatchAsync(new ConfirmDeliveredBatchRequest { Accounts = { marks } })).Code);

        // Even its own broker may not send a report far larger than a broker's: refused whole, nothing of it applied.
        var flood = new ConfirmDeliveredRequest { AccountId = second.AccountId };
        flood.Marks.AddRange(Enumerable.Range(0, 4_097).Select(_ => new DeliveryMark { SessionId = session, MsgId = sent.MsgId }));
        Assert.Equal(CodeEnum.ParamErr, (await a.ConfirmDeliveredBatchAsync(new ConfirmDeliveredBatchRequest { Accounts = { flood } })).Code);
        var next = await a.SendMsgAsync(new SendMsgRequest { SenderId = second.AccountId, SessionId = session, Content = "hi", RequestId = "r4" });
        Assert.Equal((CodeEnum.Success, sent.MsgId + 1), (next.Code, next.MsgId));

        // A logic node's certificate may not call LogicDealer at all.
        using var asLogic = cluster.ChannelTo(logic.GrpcAddress, "a-logic-node");
        var refused = await Assert.ThrowsAsync<RpcException>(() => new LogicDealer.LogicDealerClient(asLogic).GetStatsAsync(new StatsRequest()).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
    }

    [Fact]
    public async Task A_broker_whose_certificate_names_another_address_or_role_does_not_start()
    {
        var cluster = await ClusterCertificates.MakeInAsync(_folder.File("cluster"));
        await cluster.IssueNodeAsync("elsewhere", "broker", "127.0.0.1:9", CancellationToken.None);
        await cluster.IssueNodeAsync("a-logic-node", "logic", "127.0.0.1:9", CancellationToken.None);
        foreach (var (name, why) in new[] { ("elsewhere", "names the address 127.0.0.1:9, but this node is reached at"), ("a-logic-node", "is a logic node's; this node is a broker") })
        {
            var grpc = $"127.0.0.1:{Chat.Testing.Network.LoopbackPort.Free()}";
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => ChatNode.StartAsync(ChatRole.Broker,
            [
                $"Chat:Cluster:LogicAddresses=127.0.0.1:1",
                $"Chat:Cluster:GrpcUrl=https://{grpc}",
                $"Chat:Cluster:Tls:CertificatePath={cluster.CertificateOf(name)}",
                $"Chat:Cluster:Tls:KeyPath={cluster.KeyOf(name)}",
                $"Chat:Cluster:Tls:CaPath={cluster.CaPath}",
            ]));
            Assert.Contains(why, CommandLine.Refusal(refused) ?? refused.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_broker_address_that_is_not_one_is_refused_and_does_not_stop_logic_finding_a_dead_broker()
    {
        await using var nodes = await ThreeNodesAsync();
        var (alice, bob, sessionId) = await nodes.PairAsync();
        await using var a = alice;
        await using var b = bob;

        // A holder of the secret names a broker address that is not one (logic would dial it, and check it, for as long as the account is bound).
        using var channel = GrpcChannel.ForAddress($"http://{nodes.Logic.GrpcAddress}");
        var created = await new LogicDealer.LogicDealerClient(channel).CreateAccountAsync(
            new CreateAccountRequest { Nickname = "mallory", Broker = "not a broker address", ConnectionId = 1 },
            ChatNode.WithSecret);

        // Alice's broker dies without a word: logic finds it silent, releases her account, her grace period runs out, and Bob is told.
        await nodes.Doomed.KillAsync();
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit" && f.ULong("sessionId") == sessionId, TimeSpan.FromSeconds(30));
        Assert.Equal(CodeEnum.ParamErr, created.Code);
    }

    [Fact]
    public async Task Logic_closes_its_link_to_a_broker_that_is_gone_and_keeps_the_living_ones()
    {
        await using var nodes = await ThreeNodesAsync();
        var (alice, bob, _) = await nodes.PairAsync();
        await using var a = alice;
        await using var b = bob;
        await LinksBecomeAsync(nodes.Logic, 2);

        await nodes.Doomed.KillAsync();

        // Declared gone, the dead broker is checked no more and its link is closed once idle; the living one's is
        // kept (its visitor is still checked for), and Bob's partner's account was released.
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit", TimeSpan.FromSeconds(30));
        await LinksBecomeAsync(nodes.Logic, 1);
    }

    public void Dispose() => _folder.Dispose();

    /// <summary>Bob's next message is Alice's own: nothing forged arrived before it.</summary>
    private static async Task OnlyAlicesOwnReachBobAsync(TestClient alice, TestClient bob, ulong sessionId)
    {
        Assert.Equal(0, (await alice.SayAsync(sessionId, "the real alice")).Code());
        Assert.Equal("the real alice", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.DoesNotContain(bob.Snapshot(), frame => frame.Raw.Contains("forged", StringComparison.Ordinal));
    }

    /// <summary>
    /// Logic as a child process (its /metrics its own; quick broker checks, a short grace period, links closed
    /// after a second idle), a broker as another to kill -9, and one in this process that lives.
    /// </summary>
    private static async Task<ThreeNodes> ThreeNodesAsync()
    {
        var secret = new Dictionary<string, string> { ["Chat__Cluster__Secret"] = ChatNode.Secret };
        var logic = await ChildNode.StartAsync(ChatRole.Logic, "logic",
        [
            "Chat:Store:Kind=memory",
            "Chat:Logic:BrokerCheckInterval=00:00:00.500",
            "Chat:Logic:BrokerCheckTimeout=00:00:00.500",
            "Chat:Logic:BrokerDeadAfter=00:00:02",
            "Chat:Logic:BrokerForgetAfter=00:00:02",
            "Chat:Logic:GracePeriod=00:00:01",
            "Chat:Logic:Push:IdleLinkTimeout=00:00:01",
        ], secret);
        var doomed = await ChildNode.StartAsync(ChatRole.Broker, "broker", [$"Chat:Cluster:LogicAddresses={logic.GrpcAddress}"], secret);
        var survivor = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        return new ThreeNodes(logic, doomed, survivor);
    }

    private sealed record ThreeNodes(ChildNode Logic, ChildNode Doomed, ChatNode Survivor) : IAsyncDisposable
    {
        /// <summary>Alice on the broker that will die, Bob on the one that lives; a message each way.</summary>
        public async Task<(TestClient Alice, TestClient Bob, ulong SessionId)> PairAsync()
        {
            var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(Doomed.WebSocketUri, "alice"), VisitorAsync(Survivor.WebSocketUri, "bob"));
            Assert.Equal(0, (await alice.SayAsync(sessionId, "hi bob")).Code());
            Assert.Equal("hi bob", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
            Assert.Equal(0, (await bob.SayAsync(sessionId, "hi alice")).Code());
            Assert.Equal("hi alice", (await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
            return (alice, bob, sessionId);
        }

        public async ValueTask DisposeAsync()
        {
            await Survivor.DisposeAsync();
            await Doomed.DisposeAsync();
            await Logic.DisposeAsync();
        }
    }

    /// <summary>Waits until logic holds <paramref name="expected"/> links to brokers (<c>chat_logic_broker_links</c> on its /metrics); nothing announces it.</summary>
    private static async Task LinksBecomeAsync(ChildNode logic, int expected)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        double? links = null;
        while (DateTime.UtcNow < deadline)
        {
            links = Exposition.TryValue(await http.GetStringAsync(new Uri(logic.HttpUri, "/metrics")), "chat_logic_broker_links");
            if (links == expected)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"logic held {links?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} links to brokers, not {expected}:\n{logic.Output}");
    }

    private static Task<TestClient> VisitorAsync(ChatNode broker, string nickName) => VisitorAsync(broker.WebSocketUri, nickName);

    private static async Task<TestClient> VisitorAsync(Uri broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker);
        await client.CreateAccountAsync(nickName);
        return client;
    }
}
