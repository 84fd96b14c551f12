using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// The proxies (nginx) whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> a node that serves
/// the web client believes: <c>Chat:Cluster:TrustedProxies</c>, in all-in-one as on a broker. Behind
/// nginx on the same host every caller is loopback otherwise, and a page served over TLS looks like
/// plain HTTP to the Origin check.
/// </summary>
public sealed class TrustedProxyOptions
{
    /// <summary>The proxies' IP addresses, comma-separated; empty: none (not even loopback, which ASP.NET Core would trust by default).</summary>
    public string? TrustedProxies { get; set; }

    public IReadOnlyList<IPAddress> Addresses => [.. List().Select(IPAddress.Parse)];

    internal IEnumerable<string> List() => (TrustedProxies ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

public static class TrustedProxies
{
    /// <summary>All-in-one: <c>Chat:Cluster:TrustedProxies</c> alone (the rest of <c>Chat:Cluster</c> is for the nodes of a cluster), checked at start.</summary>
    public static IServiceCollection AddTrustedProxies(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TrustedProxyOptions>()
            .Configure(options => options.TrustedProxies = configuration["Chat:Cluster:TrustedProxies"])
            .Validate(options => options.List().All(proxy => IPAddress.TryParse(proxy, out _)), "Chat:Cluster:TrustedProxies must be IP addresses, comma-separated (a proxy is believed by its address, e.g. 127.0.0.1).")
            .ValidateOnStart();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<TrustedProxyOptions>>((forwarded, options) => Trust(forwarded, options.Value.Addresses));
        return services;
    }

    /// <summary>Believes the forwarded client address and scheme from <paramref name="proxies"/> only; from nobody when there are none.</summary>
    public static void Trust(ForwardedHeadersOptions forwarded, IReadOnlyList<IPAddress> proxies)
    {
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        forwarded.ForwardedHeaders = proxies.Count == 0 ? ForwardedHeaders.None : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        foreach (var proxy in proxies)
        {
            forwarded.KnownProxies.Add(proxy);
        }
    }
}
