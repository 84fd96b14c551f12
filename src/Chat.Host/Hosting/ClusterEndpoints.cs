using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Chat.Host.Hosting;

public static class ClusterEndpoints
{
    /// <summary>
    /// The two kinds of port a broker or logic node listens on: <c>--urls</c> for HTTP/1.1 (a broker's
    /// web client and WebSocket; health and metrics on both) and <c>Chat:Cluster:GrpcUrl</c> for
    /// gRPC over HTTP/2 without TLS (h2c), which only the cluster's own nodes call.
    /// </summary>
    public static void ListenAsClusterNode(this WebApplicationBuilder builder, string httpUrls, string grpcUrl)
    {
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var url in httpUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Listen(kestrel, url, HttpProtocols.Http1);
            }

            Listen(kestrel, grpcUrl, HttpProtocols.Http2);
        });

        // The host also hands the urls to Kestrel as addresses of its own (whether they came from --urls,
        // Urls or ASPNETCORE_URLS), and Kestrel, bound to the endpoints above instead, warns that it
        // ignores them. They are those endpoints' source already: drop the host's copy before Kestrel binds.
        builder.Services.AddTransient<IStartupFilter, NoHostAddresses>();
    }

    /// <summary>host:port of a URL, as other nodes dial it.</summary>
    public static string AddressOf(string url)
    {
        var uri = new Uri(url);
        return $"{uri.Host}:{uri.Port}";
    }

    private sealed class NoHostAddresses : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.ServerFeatures.Get<IServerAddressesFeature>()?.Addresses.Clear();
            next(app);
        };
    }

    private static void Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols)
    {
        var uri = new Uri(url);
        if (uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new InvalidOperationException($"{url}: only http:// endpoints are served here; put TLS in front (nginx) for clients.");
        }

        if (uri.Host is "localhost")
        {
            kestrel.ListenLocalhost(uri.Port, o => o.Protocols = protocols);
        }
        else if (uri.Host is "*" or "+" or "0.0.0.0" or "[::]")
        {
            kestrel.ListenAnyIP(uri.Port, o => o.Protocols = protocols);
        }
        else
        {
            kestrel.Listen(System.Net.IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port, o => o.Protocols = protocols);
        }
    }
}
