using System.Security.Authentication;
using Chat.Host.Cluster;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

public static class ClusterEndpoints
{
    /// <summary>
    /// The two kinds of port a broker or logic node listens on, from <see cref="ClusterOptions"/> once it
    /// is validated: <c>--urls</c> for HTTP/1.1 (a broker's web client and WebSocket; health and metrics
    /// on both) and <c>Chat:Cluster:GrpcUrl</c> for gRPC over HTTP/2, which only the cluster's own nodes
    /// (and health probes) call: over TLS that requires a client certificate of the cluster's
    /// (<c>Chat:Cluster:Tls</c>), else as h2c. <paramref name="http1"/>: more for each HTTP/1.1 endpoint (a
    /// broker's own WebSocket handshake).
    /// </summary>
    public static IServiceCollection AddClusterNodeListeners(this IServiceCollection services, Action<ListenOptions, IServiceProvider>? http1 = null)
    {
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ClusterOptions>, IServiceProvider>((kestrel, options, provider) =>
        {
            var cluster = options.Value;
            foreach (var url in cluster.HttpUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Listen(kestrel, ListenUrl.Parse(url), HttpProtocols.Http1, more: http1 is null ? null : listen => http1(listen, provider));
            }

            var tls = provider.GetService<TlsNodeLinks>();
            Listen(kestrel, ListenUrl.Parse(cluster.GrpcUrl!, tls is not null), HttpProtocols.Http2, tls);
        });

        // The host also hands the urls to Kestrel as addresses of its own (whether they came from --urls,
        // Urls or ASPNETCORE_URLS), and Kestrel, bound to the endpoints above instead, warns that it
        // ignores them. They are those endpoints' source already: drop the host's copy before Kestrel binds.
        services.AddTransient<IStartupFilter, NoHostAddresses>();
        return services;
    }

    private sealed class NoHostAddresses : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.ServerFeatures.Get<IServerAddressesFeature>()?.Addresses.Clear();
            next(app);
        };
    }

    private static void Listen(KestrelServerOptions kestrel, ListenUrl url, HttpProtocols protocols, TlsNodeLinks? tls = null, Action<ListenOptions>? more = null)
    {
        void Configure(ListenOptions listen)
        {
            listen.Protocols = protocols;
            more?.Invoke(listen);
            if (tls is not null)
            {
                // A stranger gets no further than the handshake: no certificate of the cluster's, no HTTP/2 at all.
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = tls.Certificate,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (certificate, chain, _) => tls.AdmitsClient(certificate, chain),
                    CheckCertificateRevocation = false,
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                });
            }
        }

        if (url.Localhost)
        {
            kestrel.ListenLocalhost(url.Port, Configure);
        }
        else if (url.Any)
        {
            kestrel.ListenAnyIP(url.Port, Configure);
        }
        else
        {
            kestrel.Listen(url.Ip!, url.Port, Configure);
        }
    }
}
