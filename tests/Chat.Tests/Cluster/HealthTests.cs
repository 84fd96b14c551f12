using Chat.Testing.Cluster;
using Chat.Testing.Network;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Chat.Tests.Cluster;

/// <summary>The standard gRPC health service on the gRPC ports of brokers and logic nodes, as an orchestrator's probe asks it.</summary>
public sealed class HealthTests
{
    private static readonly TimeSpan CallLimit = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_logic_node_and_a_broker_say_serving_on_their_grpc_ports_to_a_probe_without_the_secret_and_a_broker_without_logic_says_not_serving()
    {
        await using var logic = await ChatNode.StartLogicAsync();
        await using var broker = await ChatNode.StartBrokerAsync([logic.GrpcAddress]);
        await using var stranded = await ChatNode.StartBrokerAsync([$"127.0.0.1:{LoopbackPort.Free()}"]); // nothing listens there

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await StatusAsync(logic.GrpcAddress));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await StatusAsync(broker.GrpcAddress));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await StatusAsync(stranded.GrpcAddress));

        // The same verdicts as /readyz.
        using var http = new HttpClient { Timeout = CallLimit };
        Assert.True((await http.GetAsync(new Uri(broker.HttpUri, "/readyz"))).IsSuccessStatusCode);
        var strandedReady = await http.GetAsync(new Uri(stranded.HttpUri, "/readyz"));
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, strandedReady.StatusCode);
        Assert.Equal("not ready\n", await strandedReady.Content.ReadAsStringAsync());
        Assert.Equal("ok\n", await http.GetStringAsync(new Uri(stranded.HttpUri, "/healthz")));
    }

    private static async Task<HealthCheckResponse.Types.ServingStatus> StatusAsync(string grpcAddress)
    {
        using var channel = GrpcChannel.ForAddress($"http://{grpcAddress}");
        var answer = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + CallLimit);
        return answer.Status;
    }
}
