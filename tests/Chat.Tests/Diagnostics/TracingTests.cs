using Chat.Host;
using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Diagnostics;

/// <summary>Tracing across broker → logic → broker, sent by OTLP to a collector when one is configured.</summary>
public sealed class TracingTests
{
    private static readonly TimeSpan ExportLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_message_shows_as_one_trace_from_the_senders_broker_through_logic_to_the_push_on_the_receivers_broker()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        using var data = TempFolder.Create("chat-tracing-");
        var secret = new Dictionary<string, string> { ["Chat__Cluster__Secret"] = "tracing-test-secret-of-at-least-32-bytes" };
        var quickExport = new Dictionary<string, string>(secret) { ["OTEL_BSP_SCHEDULE_DELAY"] = "100" };

        // Logic by OpenTelemetry's own variables, the brokers by the chat's settings: either turns tracing on.
        await using var logic = await ChildNode.StartAsync(
            ChatRole.Logic,
            "logic",
            [$"Chat:Store:Path={data.File("chat.db")}"],
            new Dictionary<string, string>(quickExport) { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint.ToString(), ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf" });
        string[] brokerSettings = [$"Chat:Cluster:LogicAddresses={logic.GrpcAddress}", $"Chat:Telemetry:OtlpEndpoint={collector.Endpoint}", "Chat:Telemetry:OtlpProtocol=http/protobuf"];
        await using var aliceBroker = await ChildNode.StartAsync(ChatRole.Broker, "broker-a", brokerSettings, quickExport);
        await using var bobBroker = await ChildNode.StartAsync(ChatRole.Broker, "broker-b", brokerSettings, quickExport);

        var (alice, bob, sessionId) = await Pairing.PairAsync(VisitorAsync(aliceBroker, "alice"), VisitorAsync(bobBroker, "bob"));
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "traced")).Code());
        Assert.Equal("traced", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        // The send's span on alice's broker starts a trace; logic's spans and the push's span on bob's broker join it.
        var trace = await collector.WaitForAsync(
            spans =>
            {
                return spans.Where(s => s is { Service: "chat-broker", Name: "DIALOGUE_REQ" })
                    .Select(send => spans.Where(s => s.TraceId == send.TraceId).ToList())
                    .FirstOrDefault(t => t.Any(s => s is { Service: "chat-logic", Name: "SendMsg" }) && t.Any(s => s is { Service: "chat-broker", Name: "PUSH_DIALOGUE_REQ" }));
            },
            ExportLimit,
            () => $"no trace from broker to logic to broker among: {string.Join(", ", collector.Spans.Select(s => $"{s.Service}/{s.Name}/{s.TraceId[..8]}"))}");

        var send = trace.Single(s => s.Name == "DIALOGUE_REQ");
        Assert.Equal(string.Empty, send.ParentSpanId); // the message's own trace, not one the socket's whole life shares
        var handled = trace.Single(s => s.Name == "SendMsg");
        Assert.Equal(send.SpanId, handled.ParentSpanId); // logic's span is the broker's child, across the send stream
        Assert.Contains(trace, s => s.Service == "chat-logic" && s.Name != "SendMsg"); // Orleans' grain calls, in between
        var push = trace.Single(s => s.Name == "PUSH_DIALOGUE_REQ");
        Assert.Contains(trace, s => s.Service == "chat-logic" && s.SpanId == push.ParentSpanId); // made in logic's grain call
    }

    private static async Task<TestClient> VisitorAsync(ChildNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }
}
