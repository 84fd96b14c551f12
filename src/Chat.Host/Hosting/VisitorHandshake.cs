using Chat.Broker;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// The broker's own WebSocket handshake (<c>Chat.Broker/Handshake</c>) on the visitors' HTTP/1.1 endpoints,
/// unless <c>Chat:Broker:OwnHandshake</c> is false (then Kestrel's HTTP/1.1 upgrades every socket, as before).
/// </summary>
public static class VisitorHandshake
{
    /// <summary>All-in-one: on every endpoint the host listens on (its --urls).</summary>
    public static IServiceCollection AddVisitorHandshake(this IServiceCollection services)
    {
        services.AddOptions<KestrelServerOptions>().Configure<IServiceProvider>((kestrel, provider) => kestrel.ConfigureEndpointDefaults(listen => Use(listen, provider)));
        return services;
    }

    /// <summary>A broker of a cluster: on one of its HTTP/1.1 endpoints (<see cref="ClusterEndpoints.AddClusterNodeListeners"/>).</summary>
    public static void Use(ListenOptions listen, IServiceProvider provider)
    {
        if (provider.GetRequiredService<IOptions<BrokerOptions>>().Value.OwnHandshake)
        {
            listen.UseChatHandshake(ConnectionLimits.MaxWebSockets(provider.GetRequiredService<IOptions<ConnectionLimitsOptions>>().Value));
        }
    }
}
