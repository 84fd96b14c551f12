using Chat.Protocol.Grpc;
using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Chat.Tests.Cluster;

/// <summary>The seed's gRPC services between our nodes, and towards the seed's own broker.</summary>
public sealed class GrpcServicesTests
{
    [Fact]
    public async Task The_seeds_own_broker_can_front_our_logic()
    {
        await using var logic = await ChatNode.StartLogicAsync("Chat:Logic:GracePeriod=00:00:00");
        await using var seedBroker = await SeedBroker.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://{logic.GrpcAddress}");
        var dealer = new LogicDealer.LogicDealerClient(channel);

        // Only fields the seed's files have: no connection id, no requestId, no leave kind.
        var alice = await dealer.CreateAccountAsync(new CreateAccountRequest { Nickname = "alice", Broker = seedBroker.Address }, ChatNode.WithSecret);
        var bob = await dealer.CreateAccountAsync(new CreateAccountRequest { Nickname = "bob", Broker = seedBroker.Address }, ChatNode.WithSecret);
        Assert.Equal((CodeEnum.Success, CodeEnum.Success), (alice.Code, bob.Code));

        Assert.Equal(CodeEnum.NoDataFound, (await dealer.MatchAsync(new MatchRequest { AccountId = alice.AccountId }, ChatNode.WithSecret)).Code);
        var match = await dealer.MatchAsync(new MatchRequest { AccountId = bob.AccountId }, ChatNode.WithSecret);
        Assert.Equal((CodeEnum.Success, alice.AccountId, "alice"), (match.Code, match.PartnerId, match.PartnerName));
        var joined = await seedBroker.ExpectAsync<PushSignal>(alice.AccountId);
        Assert.Equal((SignalTypeEnum.NewSession, match.SessionId, bob.AccountId, "bob"), (joined.SignalType, joined.SessionId, joined.Partner.AccountId, joined.Partner.NickName));

        // Two sends of the same text without a requestId are two messages (the seed's client never retries one).
        var first = await dealer.SendMsgAsync(new SendMsgRequest { SenderId = alice.AccountId, SessionId = match.SessionId, Content = "hi bob" }, ChatNode.WithSecret);
        var second = await dealer.SendMsgAsync(new SendMsgRequest { SenderId = alice.AccountId, SessionId = match.SessionId, Content = "hi bob" }, ChatNode.WithSecret);
        Assert.Equal(CodeEnum.Success, first.Code);
        Assert.True(second.MsgId > first.MsgId);
        foreach (var sent in new[] { first, second })
        {
            var pushed = await seedBroker.ExpectAsync<PushDialogue>(bob.AccountId);
            Assert.Equal((sent.MsgId, alice.AccountId, "hi bob"), (pushed.MsgId, pushed.SenderId, pushed.Content));
        }

        Assert.Equal(CodeEnum.Success, (await dealer.ViewedAckAsync(new ViewedAckRequest { SessionId = match.SessionId, AccountId = bob.AccountId, MsgId = second.MsgId }, ChatNode.WithSecret)).Code);
        var viewed = await seedBroker.ExpectAsync<PushSignal>(alice.AccountId);
        Assert.Equal((SignalTypeEnum.ViewedAck, second.MsgId), (viewed.SignalType, viewed.MsgId));

        var again = await dealer.ReconnectAsync(new ReConnectRequest { AccountId = alice.AccountId, Token = alice.Token, Broker = seedBroker.Address }, ChatNode.WithSecret);
        Assert.Equal((CodeEnum.Success, "alice"), (again.Code, again.Nickname));

        Assert.Equal(CodeEnum.Success, (await dealer.LogoutAsync(new LogoutRequest { AccountId = bob.AccountId, Broker = seedBroker.Address }, ChatNode.WithSecret)).Code);
        var exit = await seedBroker.ExpectAsync<PushSignal>(alice.AccountId);
        Assert.Equal((SignalTypeEnum.PartnerExit, bob.AccountId, match.SessionId), (exit.SignalType, exit.AccountId, exit.SessionId));
    }

    [Fact]
    public async Task Reflection_lists_the_seeds_services_and_a_CreateAccount_made_from_its_descriptors_works()
    {
        await using var logic = await ChatNode.StartLogicAsync();
        using var channel = GrpcChannel.ForAddress($"http://{logic.GrpcAddress}");
        var reflection = new ServerReflection.ServerReflectionClient(channel);

        using var call = reflection.ServerReflectionInfo(ChatNode.WithSecret);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = string.Empty });
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "proto.LogicDealer" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext());
        Assert.Contains("proto.LogicDealer", call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name));
        Assert.True(await call.ResponseStream.MoveNext());
        var files = FileDescriptor.BuildFromByteStrings(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto);
        var service = files.SelectMany(f => f.Services).Single(s => s.FullName == "proto.LogicDealer");
        var method = service.FindMethodByName("CreateAccount");

        // The request built from the descriptor alone, by field name, as grpcurl does.
        var request = new MemoryStream();
        var output = new CodedOutputStream(request);
        WriteString(output, method.InputType.FindFieldByName("nickname"), "from reflection");
        WriteString(output, method.InputType.FindFieldByName("broker"), "127.0.0.1:1");
        output.Flush();
        var raw = new Method<byte[], byte[]>(MethodType.Unary, service.FullName, method.Name, Bytes, Bytes);
        var answer = await channel.CreateCallInvoker().AsyncUnaryCall(raw, null, new CallOptions(ChatNode.WithSecret), request.ToArray());

        var fields = ReadFields(answer);
        var code = fields.TryGetValue(method.OutputType.FindFieldByName("code").FieldNumber, out var sent) ? (ulong)sent : 0; // Success is proto3's default: not sent
        Assert.Equal(0UL, code);
        Assert.True(fields[method.OutputType.FindFieldByName("accountId").FieldNumber] is ulong id && id > 0);
    }

    [Fact]
    public async Task A_call_without_the_clusters_secret_is_refused_by_both_services()
    {
        await using var logic = await ChatNode.StartLogicAsync();
        await using var broker = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        using var toLogic = GrpcChannel.ForAddress($"http://{logic.GrpcAddress}");
        using var toBroker = GrpcChannel.ForAddress($"http://{broker.GrpcAddress}");
        var wrong = new Metadata { { "authorization", "Bearer not-the-secret" } };

        foreach (var headers in new[] { null, wrong })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => new LogicDealer.LogicDealerClient(toLogic)
                .CreateAccountAsync(new CreateAccountRequest { Nickname = "mallory", Broker = "127.0.0.1:1" }, headers).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            var pushRefused = await Assert.ThrowsAsync<RpcException>(() => new Chat.Protocol.Grpc.Broker.BrokerClient(toBroker)
                .ReceiveMsgDialogueAsync(new PushDialogue { ReceiverId = 1, Content = "spoofed" }, headers).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, pushRefused.StatusCode);
            using var stream = new LogicDealer.LogicDealerClient(toLogic).SendStream(headers);
            var streamRefused = await Assert.ThrowsAsync<RpcException>(() => stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.Unauthenticated, streamRefused.StatusCode);
        }

        // With it, both answer.
        Assert.Equal(CodeEnum.Success, (await new LogicDealer.LogicDealerClient(toLogic).GetStatsAsync(new StatsRequest(), ChatNode.WithSecret)).Code);
        Assert.Equal(CodeEnum.Success, (await new Chat.Protocol.Grpc.Broker.BrokerClient(toBroker).HealthCheckAsync(new HealthCheckReq(), ChatNode.WithSecret)).Code);
    }

    [Fact]
    public async Task Visitors_on_a_broker_chat_through_a_logic_node_and_resume_after_a_dropped_socket()
    {
        await using var logic = await ChatNode.StartLogicAsync();
        await using var broker = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        var (alice, bob, sessionId) = await Pairing.PairAsync(
            VisitorAsync(broker, "alice"), VisitorAsync(broker, "bob"));
        await using var b = bob;

        Assert.Equal(0, (await alice.SayAsync(sessionId, "through gRPC")).Code());
        Assert.Equal("through gRPC", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        // Alice's socket drops; what Bob sends meanwhile reaches her new socket after RECONNECT.
        alice.Abort();
        await alice.DisposeAsync();
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        var missed = await bob.SayAsync(sessionId, "while you were away");
        Assert.Equal(0, missed.Code());
        var (aliceAgain, resumed) = await alice.ReconnectOnNewSocketAsync(broker.WebSocketUri);
        await using var a = aliceAgain;
        Assert.Equal(0, resumed.Code());
        var replayed = await aliceAgain.ExpectAsync("PUSH_DIALOGUE_REQ");
        Assert.Equal((missed.ULong("msgId"), "while you were away"), (replayed.ULong("msgId"), replayed.String("content")));
    }

    private static async Task<TestClient> VisitorAsync(ChatNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        await client.CreateAccountAsync(nickName);
        return client;
    }

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    private static void WriteString(CodedOutputStream output, FieldDescriptor field, string value)
    {
        output.WriteTag(field.FieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteString(value);
    }

    /// <summary>The varint and string fields of a message, by number.</summary>
    private static Dictionary<int, object> ReadFields(byte[] message)
    {
        var fields = new Dictionary<int, object>();
        var input = new CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var number = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.Varint:
                    fields[number] = input.ReadUInt64();
                    break;
                case WireFormat.WireType.LengthDelimited:
                    fields[number] = input.ReadString();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return fields;
    }
}
