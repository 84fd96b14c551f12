using Chat.Broker;
using Chat.Host.Cluster;
using Chat.Host.Hosting;
using Chat.Logic;
using Chat.Protocol.Grpc;
using Microsoft.Extensions.Options;

namespace Chat.Host;

/// <summary>
/// What each role of `chat` is made of, one method per role to add its services and one to map its
/// endpoints. The rules are the same grain code in every role; only how broker and logic reach each
/// other changes (in-process calls, or the seed's gRPC services).
/// </summary>
public static class ChatRoles
{
    public const string AllInOneUrls = "http://127.0.0.1:18224";
    public const string BrokerUrls = AllInOneUrls;
    public const string BrokerGrpcUrl = "http://127.0.0.1:18225";
    public const string LogicUrls = "http://127.0.0.1:18226";
    public const string LogicGrpcUrl = "http://127.0.0.1:18223";

    /// <summary>Broker, logic (one silo) and the embedded store in one process, with the web client.</summary>
    public static WebApplicationBuilder AddAllInOne(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey])) // --urls, Urls or ASPNETCORE_URLS
        {
            builder.WebHost.UseUrls(AllInOneUrls);
        }

        ServerUrls.AddServerUrlsCheck(builder.Services);

        builder.Services.AddChatLogic();
        builder.Services.AddOperatorApi();
        builder.AddChatSilo(ChatRole.All);
        builder.Services.AddChatBroker().AddVisitorHandshake();
        builder.Services.AddTrustedProxies(builder.Configuration); // behind nginx on the same host, as a broker is
        builder.Services.AddChatHealth(grpc: false).AddStoreCheck(HealthExtensions.Ready);
        return builder.AddChatDiagnostics("chat");
    }

    /// <summary>A broker of a cluster: sockets and the web client; logic over gRPC; pushes arrive on the Broker gRPC service.</summary>
    public static WebApplicationBuilder AddBrokerNode(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddClusterOptions(BrokerUrls, BrokerGrpcUrl).AddClusterNodeListeners(http1: VisitorHandshake.Use).AddClusterGrpc(builder.Configuration, NodeRole.Broker).AddTrustedProxies();
        services.AddLogicDiscovery(builder.Configuration);
        services.AddOptions<BrokerOptions>().PostConfigure<IOptions<ClusterOptions>>((broker, cluster) => broker.Address = cluster.Value.AdvertisedAddress);
        services.AddChatBrokerOfCluster();
        services.AddChatHealth(grpc: true).AddLogicNodesCheck(HealthExtensions.Ready);
        return builder.AddChatDiagnostics("chat-broker");
    }

    /// <summary>A logic node of a cluster: an Orleans silo serving LogicDealer over gRPC; pushes go to the brokers over gRPC.</summary>
    public static WebApplicationBuilder AddLogicNode(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddClusterOptions(LogicUrls, LogicGrpcUrl).AddClusterNodeListeners().AddClusterGrpc(builder.Configuration, NodeRole.Logic);
        services.AddSingleton(sp => new LogicNodeAddress(sp.GetRequiredService<IOptions<ClusterOptions>>().Value.AdvertisedAddress));
        services.AddChatLogic();
        services.AddChallengeKeyFrom(sp => sp.GetRequiredService<IOptions<ClusterOptions>>().Value is { Tls.Wanted: false } plain ? plain.ReadSecret() : null);
        services.AddChatLogicPushesOverGrpc();
        services.AddOperatorApi();
        builder.AddChatSilo(ChatRole.Logic);
        services.AddEtcdRegistration(builder.Configuration);
        services.AddChatHealth(grpc: true).AddStoreCheck(HealthExtensions.Ready);
        return builder.AddChatDiagnostics("chat-logic");
    }

    public static WebApplication MapAllInOne(this WebApplication app) => app
        .UseTrustedProxies()
        .MapChatHealth()
        .MapChatMetrics()
        .MapWebClient();

    public static WebApplication MapBrokerNode(this WebApplication app)
    {
        app.UseForwardedHeaders(); // the client's address, from the proxies we trust only
        app.MapChatHealth().MapChatMetrics().MapWebClient();
        app.MapChatBrokerGrpc();
        app.MapGrpcReflectionService();
        return app.MapChatGrpcHealth();
    }

    public static WebApplication MapLogicNode(this WebApplication app)
    {
        app.MapChatHealth().MapChatMetrics();
        app.MapChatLogicGrpc();
        app.MapGrpcReflectionService();
        return app.MapChatGrpcHealth();
    }

    /// <summary>The client's address and scheme, from the proxies we trust only (first, so the metrics and Origin checks see them).</summary>
    private static WebApplication UseTrustedProxies(this WebApplication app)
    {
        app.UseForwardedHeaders();
        return app;
    }

    /// <summary>Metrics, Polly's telemetry and (when an OTLP endpoint is configured) tracing, for every role.</summary>
    private static WebApplicationBuilder AddChatDiagnostics(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddChatMetrics().AddChatResilience();
        return builder.AddChatTracing(serviceName);
    }

    /// <summary>The web client's pages and the WebSocket, behind the security headers.</summary>
    private static WebApplication MapWebClient(this WebApplication app)
    {
        app.UseSecurityHeaders();
        app.UseWebSockets();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapChatBroker();
        return app;
    }
}
