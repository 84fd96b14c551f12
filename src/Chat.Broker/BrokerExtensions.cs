using System.Net.WebSockets;
using Chat.Broker.Connections;
using Chat.Broker.Delivery;
using Chat.Broker.Grpc;
using Chat.Broker.Upstream;
using Chat.Broker.Diagnostics;
using Chat.Broker.Frames;
using Chat.Broker.Limits;
using Chat.Broker.Security;
using Chat.Protocol.Seams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Chat.Broker;

public static class BrokerExtensions
{
    /// <summary>1012, "service restart": the close status of every socket when a broker stops; clients reconnect (to another broker).</summary>
    public const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;

    /// <summary>The broker's meter, for the metrics exporter.</summary>
    public const string MeterName = BrokerMetrics.MeterName;

    /// <summary>The broker's activity source, for the trace exporter.</summary>
    public const string ActivitySourceName = BrokerTracing.SourceName;

    /// <summary>The broker: sockets, heartbeat, and the in-process push channel logic uses to reach them.</summary>
    public static IServiceCollection AddChatBroker(this IServiceCollection services)
    {
        services.AddOptions<BrokerOptions>().BindConfiguration(BrokerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AddressGateOptions>().BindConfiguration(AddressGateOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddUpstreamResilience();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<BrokerMetrics>();
        services.TryAddSingleton<BrokerTracing>();
        services.TryAddSingleton<LocalPushChannel>();
        services.TryAddSingleton<IPushChannel>(sp => sp.GetRequiredService<LocalPushChannel>());
        services.TryAddSingleton<RequestDispatcher>();
        services.TryAddSingleton<ConnectionLoop>();
        services.TryAddSingleton<OriginPolicy>();
        services.TryAddSingleton<BrokerEndpoint>();
        services.TryAddSingleton<Handshake.BrokerHandshake>();
        services.AddSingleton<Heartbeat.Heartbeat>();
        services.AddSingleton<DeliveryReports>();
        services.AddSingleton<AddressGate>();
        services.AddSingleton<Moderation.BanWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<Moderation.BanWatch>());
        services.AddHostedService(sp => sp.GetRequiredService<AddressGate>());
        services.AddHostedService<BrokerStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<Heartbeat.Heartbeat>());
        services.AddHostedService(sp => sp.GetRequiredService<DeliveryReports>());
        return services;
    }

    /// <summary>
    /// A broker of a cluster: logic is reached over gRPC (the seed's LogicDealer on the nodes the
    /// registered <see cref="ILogicAddresses"/> knows, over the registered <see cref="Chat.Protocol.Grpc.INodeLinks"/>), and
    /// logic's pushes arrive on the seed's Broker service.
    /// </summary>
    public static IServiceCollection AddChatBrokerOfCluster(this IServiceCollection services)
    {
        services.AddSingleton<SitOuts>();
        services.AddSingleton<GrpcLogic>();
        services.AddSingleton<ILogic>(sp => sp.GetRequiredService<GrpcLogic>());
        return services.AddChatBroker();
    }

    /// <summary>A fixed list of logic nodes (host:port), for a cluster without etcd.</summary>
    public static ILogicAddresses FixedLogicNodes(IReadOnlyList<string> addresses) => new StaticLogicAddresses(addresses);

    /// <summary>Readiness of a broker of a cluster: some logic node answers.</summary>
    public static IHealthChecksBuilder AddLogicNodesCheck(this IHealthChecksBuilder checks, params string[] tags) =>
        checks.AddCheck<LogicReadiness>("logic-nodes", HealthStatus.Unhealthy, tags);

    /// <summary>The names of the broker's Polly pipelines, whose events it logs itself.</summary>
    public static IReadOnlySet<string> ResiliencePipelines => UpstreamResilience.Names;

    /// <summary>The seed's Broker service: pushes from logic nodes to this broker's sockets.</summary>
    public static IEndpointRouteBuilder MapChatBrokerGrpc(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<BrokerPushService>();
        return endpoints;
    }

    /// <summary>Maps the WebSocket endpoint; each socket closes itself with "service restart" when the host stops (ClientConnection.Start).</summary>
    public static IEndpointRouteBuilder MapChatBroker(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<BrokerOptions>>().Value;
        var endpoint = endpoints.ServiceProvider.GetRequiredService<BrokerEndpoint>();
        endpoints.Map(options.Path, endpoint.HandleAsync);
        return endpoints;
    }

    /// <summary>
    /// Takes WebSocket handshakes for the broker's path off Kestrel's HTTP/1.1 on each endpoint it is added to
    /// (<see cref="Handshake.BrokerHandshake"/>); every other request goes on to Kestrel as it came.
    /// <paramref name="maxWebSockets"/>: <c>Chat:Http:MaxWebSockets</c> (null: no limit of its own).
    /// </summary>
    public static void UseChatHandshake(this Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen, long? maxWebSockets)
    {
        var handshake = listen.ApplicationServices.GetRequiredService<Handshake.BrokerHandshake>();
        var count = handshake.CountUnder(maxWebSockets); // one count for every endpoint of the process
        listen.Use(next => connection => handshake.OnConnectionAsync(connection, next, count));
    }
}
