using Chat.Broker;
using Chat.Host.Cluster;
using Chat.Host.Discovery;
using Chat.Host.Hosting;
using Chat.Logic;
using Chat.Protocol.Grpc;
using dotnet_etcd;
using Microsoft.AspNetCore.HttpOverrides;

namespace Chat.Host;

/// <summary>
/// `chat` in one of its roles: all-in-one (broker and logic, one Orleans silo, in one process with
/// the embedded store and the web client), a broker of a cluster, or a logic node of a cluster.
/// The rules are the same grain code in every role; only how broker and logic reach each other
/// changes (in-process calls, or the seed's gRPC services).
/// </summary>
public static class ChatApp
{
    private const int StartAttempts = 5;
    private const string DefaultUrls = "http://127.0.0.1:18224";
    private const string DefaultBrokerGrpcUrl = "http://127.0.0.1:18225";
    private const string DefaultLogicGrpcUrl = "http://127.0.0.1:18223";

    /// <summary>All-in-one.</summary>
    public static Task<WebApplication> StartAsync(string[] args, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default) =>
        StartAsync(ChatRole.All, args, configureServices, cancellationToken);

    /// <summary>Builds and starts the app; a silo port picked free but taken before the silo bound it is picked again.</summary>
    /// <param name="configureServices">Runs before the chat's own registrations, so a test can put in its own parts (a fake clock).</param>
    public static async Task<WebApplication> StartAsync(ChatRole role, string[] args, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (app, portPicked) = Build(role, args, configureServices);
            try
            {
                await app.StartAsync(cancellationToken);
                return app;
            }
            catch (Exception ex)
            {
                await app.DisposeAsync();
                if (!(portPicked && attempt < StartAttempts && SiloExtensions.IsPortTaken(ex)))
                {
                    throw;
                }
            }
        }
    }

    private static (WebApplication App, bool SiloPortPicked) Build(ChatRole role, string[] args, Action<IServiceCollection>? configureServices)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Configuration.AddCommandLine(args, CommandLine.Shorthands);
        var urls = builder.Configuration[WebHostDefaults.ServerUrlsKey]; // --urls, Urls or ASPNETCORE_URLS
        if (role == ChatRole.All && string.IsNullOrEmpty(urls))
        {
            builder.WebHost.UseUrls(DefaultUrls);
        }

        configureServices?.Invoke(builder.Services);
        var cluster = ClusterOptions.Read(builder.Configuration);
        var etcd = ClusterOptions.List(cluster.Etcd);
        var trustedProxies = role == ChatRole.Broker ? ClusterOptions.List(cluster.TrustedProxies) : [];
        var siloPortPicked = false;
        switch (role)
        {
            case ChatRole.All:
                builder.Services.AddChatLogic();
                siloPortPicked = builder.AddChatSilo(role);
                builder.Services.AddChatBroker();
                break;
            case ChatRole.Broker:
                var brokerGrpc = cluster.GrpcUrl ?? DefaultBrokerGrpcUrl;
                builder.ListenAsClusterNode(NonEmpty(urls) ?? DefaultUrls, brokerGrpc);
                builder.Configuration[$"{BrokerOptions.Section}:{nameof(BrokerOptions.Address)}"] = cluster.AdvertisedGrpcAddress ?? ClusterEndpoints.AddressOf(brokerGrpc);
                AddClusterGrpc(builder, cluster, etcd);
                if (etcd.Count > 0)
                {
                    builder.Services.AddSingleton(sp => new EtcdLogicAddresses(
                        sp.GetRequiredService<EtcdClient>(), cluster.EtcdPrefix, sp.GetRequiredService<ILogger<EtcdLogicAddresses>>()));
                    builder.Services.AddHostedService(sp => sp.GetRequiredService<EtcdLogicAddresses>());
                }

                builder.Services.AddChatBrokerOfCluster(sp => LogicNodes(sp, cluster));
                break;
            case ChatRole.Logic:
                var logicGrpc = cluster.GrpcUrl ?? DefaultLogicGrpcUrl;
                builder.ListenAsClusterNode(NonEmpty(urls) ?? "http://127.0.0.1:18226", logicGrpc);
                AddClusterGrpc(builder, cluster, etcd);
                var address = cluster.AdvertisedGrpcAddress ?? ClusterEndpoints.AddressOf(logicGrpc);
                builder.Services.AddSingleton(new LogicNodeAddress(address));
                builder.Services.AddChatLogic();
                builder.Services.AddChatLogicPushesOverGrpc();
                siloPortPicked = builder.AddChatSilo(role);
                if (etcd.Count > 0)
                {
                    builder.Services.AddHostedService(sp => new EtcdRegistration(
                        sp.GetRequiredService<EtcdClient>(),
                        cluster.EtcdPrefix + Guid.NewGuid().ToString("N"),
                        address,
                        sp.GetRequiredService<ILogger<EtcdRegistration>>()));
                }

                break;
        }

        builder.Services.AddChatMetrics();
        if (trustedProxies.Count > 0)
        {
            builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
            {
                forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                forwarded.KnownProxies.Clear();
                forwarded.KnownIPNetworks.Clear();
                foreach (var proxy in trustedProxies)
                {
                    forwarded.KnownProxies.Add(System.Net.IPAddress.Parse(proxy));
                }
            });
        }

        var app = builder.Build();
        if (trustedProxies.Count > 0)
        {
            app.UseForwardedHeaders(); // the client's address, from the proxies we trust only
        }

        app.MapChatHealth(role == ChatRole.Broker ? BrokerExtensions.AnyLogicNodeAnswersAsync : LogicExtensions.StoreAnswersAsync);
        app.MapChatMetrics();
        if (role != ChatRole.Logic)
        {
            app.UseSecurityHeaders();
            app.UseWebSockets();
            app.UseDefaultFiles();
            app.UseStaticFiles();
            app.MapChatBroker();
        }

        if (role == ChatRole.Broker)
        {
            app.MapChatBrokerGrpc();
            app.MapGrpcReflectionService();
        }
        else if (role == ChatRole.Logic)
        {
            app.MapChatLogicGrpc();
            app.MapGrpcReflectionService();
        }

        return (app, siloPortPicked);
    }

    /// <summary>gRPC between our nodes: the shared secret on every call both ways, reflection for grpcurl, etcd's client if there is one.</summary>
    private static void AddClusterGrpc(WebApplicationBuilder builder, ClusterOptions cluster, IReadOnlyList<string> etcd)
    {
        var secret = new ClusterSecret(cluster.ReadSecret());
        builder.Services.AddSingleton(secret);
        builder.Services.AddSingleton<SecretInterceptor>();
        builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<SecretInterceptor>());
        builder.Services.AddGrpcReflection();
        if (etcd.Count > 0)
        {
            builder.Services.AddSingleton(_ => new EtcdClient(string.Join(',', etcd)));
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static Chat.Broker.Upstream.ILogicAddresses LogicNodes(IServiceProvider services, ClusterOptions cluster) =>
        services.GetService<EtcdLogicAddresses>() ?? BrokerExtensions.FixedLogicNodes(ClusterOptions.List(cluster.LogicAddresses));
}
