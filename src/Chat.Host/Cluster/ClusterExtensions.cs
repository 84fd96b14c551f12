using System.Net;
using Chat.Host.Discovery;
using Chat.Protocol.Grpc;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Chat.Host.Cluster;

public static class ClusterExtensions
{
    /// <summary><see cref="ClusterOptions"/>, bound over the role's defaults (an https:// gRPC URL with TLS) and validated at start.</summary>
    public static IServiceCollection AddClusterOptions(this IServiceCollection services, string defaultHttpUrls, string defaultGrpcUrl)
    {
        services.AddOptions<ClusterOptions>()
            .Configure<IConfiguration, ClusterTransport>((options, configuration, transport) =>
            {
                (options.HttpUrls, options.GrpcUrl) = (defaultHttpUrls, transport.Tls is null ? defaultGrpcUrl : "https" + defaultGrpcUrl[defaultGrpcUrl.IndexOf(':')..]);
                ClusterOptions.Bind(configuration, options);
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidation>();
        return services;
    }

    /// <summary>
    /// gRPC between our nodes, and how it travels (<see cref="INodeLinks"/>): TLS with mutual authentication
    /// from the cluster's CA if <c>Chat:Cluster:Tls</c> names this node's certificate (read here, so a wrong
    /// file stops the start naming the setting), else plaintext h2c with the shared secret on every call.
    /// Every call is let in or refused by <see cref="NodeCallInterceptor"/>; reflection for grpcurl.
    /// </summary>
    public static IServiceCollection AddClusterGrpc(this IServiceCollection services, IConfiguration configuration, NodeRole role)
    {
        var tls = configuration.GetSection(ClusterTlsOptions.Section).Get<ClusterTlsOptions>() ?? new ClusterTlsOptions();
        var certificates = tls.Wanted ? NodeCertificates.Load(tls, ClusterTlsOptions.Section) : null;
        services.AddSingleton(new ClusterTransport(role, certificates));
        if (certificates is not null)
        {
            services.AddSingleton(certificates);
            services.AddSingleton<TlsNodeLinks>();
            services.AddSingleton<NodeGate>(sp => sp.GetRequiredService<TlsNodeLinks>());
        }
        else
        {
            services.AddSingleton(sp => new ClusterSecret(sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ReadSecret()));
            services.AddSingleton<NodeGate, PlainNodeLinks>();
        }

        services.AddSingleton<INodeLinks>(sp => sp.GetRequiredService<NodeGate>());
        services.AddSingleton<NodeCallInterceptor>();
        services.AddGrpc(grpc => grpc.Interceptors.Add<NodeCallInterceptor>());
        services.AddGrpcReflection();
        services.AddHostedService<ClusterTransportNotice>();
        return services;
    }

    /// <summary>etcd's client, when <c>Chat:Cluster:Etcd</c> names it: whether there is one shapes the node, so it is read here.</summary>
    public static bool HasEtcd(this IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[$"{ClusterOptions.Section}:{nameof(ClusterOptions.Etcd)}"]);

    /// <summary>A broker finds logic nodes in etcd (<c>Chat:Cluster:Etcd</c>), or in the fixed list <c>Chat:Cluster:LogicAddresses</c>.</summary>
    public static IServiceCollection AddLogicDiscovery(this IServiceCollection services, IConfiguration configuration)
    {
        if (configuration.HasEtcd())
        {
            services.AddEtcdClient();
            services.AddSingleton<EtcdLogicAddresses>();
            services.AddSingleton<Chat.Broker.Upstream.ILogicAddresses>(sp => sp.GetRequiredService<EtcdLogicAddresses>());
            services.AddHostedService(sp => sp.GetRequiredService<EtcdLogicAddresses>());
        }
        else
        {
            services.AddSingleton(sp => Chat.Broker.BrokerExtensions.FixedLogicNodes(sp.GetRequiredService<IOptions<ClusterOptions>>().Value.LogicAddressList));
        }

        return services;
    }

    /// <summary>A logic node registers its gRPC address in etcd, when there is one.</summary>
    public static IServiceCollection AddEtcdRegistration(this IServiceCollection services, IConfiguration configuration)
    {
        if (configuration.HasEtcd())
        {
            services.AddEtcdClient();
            services.AddHostedService<EtcdRegistration>();
        }

        return services;
    }

    /// <summary>
    /// A broker believes X-Forwarded-For (and -Proto) from the proxies in <c>Chat:Cluster:TrustedProxies</c>
    /// only; with none, from nobody (not even loopback, which ASP.NET Core would trust by default).
    /// </summary>
    public static IServiceCollection AddTrustedProxies(this IServiceCollection services)
    {
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ClusterOptions>>((forwarded, options) =>
            Hosting.TrustedProxies.Trust(forwarded, options.Value.TrustedProxyAddresses));
        return services;
    }

    private static void AddEtcdClient(this IServiceCollection services) =>
        services.AddSingleton(sp => new EtcdConnection(sp.GetRequiredService<IOptions<ClusterOptions>>().Value, sp.GetRequiredService<ClusterTransport>()));
}
