using System.Net;

namespace Chat.Host.Cluster;

/// <summary>
/// A URL a node listens on (<c>--urls</c>, <c>Chat:Cluster:GrpcUrl</c>): a port, and as host an IP
/// address, <c>localhost</c>, or every address (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>, <c>[::]</c>). http://,
/// or https:// for the gRPC port of a node with TLS.
/// </summary>
internal readonly record struct ListenUrl(IPAddress? Ip, bool Localhost, int Port, string Address, string? Problem)
{
    public bool Any => Ip is not null && (Ip.Equals(IPAddress.Any) || Ip.Equals(IPAddress.IPv6Any));

    /// <summary>Only this machine can reach it (localhost, or a loopback address).</summary>
    public bool IsLoopback => Localhost || (Ip is not null && IPAddress.IsLoopback(Ip));

    /// <summary>The URL taken apart, or <see cref="Problem"/> saying what is wrong with it (after the URL itself, in a sentence).</summary>
    /// <param name="tls">The port speaks TLS (a node's gRPC port with <c>Chat:Cluster:Tls</c>): the URL must say https://.</param>
    public static ListenUrl Parse(string url, bool tls = false)
    {
        var text = url.Replace("//*:", "//0.0.0.0:", StringComparison.Ordinal).Replace("//+:", "//0.0.0.0:", StringComparison.Ordinal);
        var scheme = tls ? Uri.UriSchemeHttps : Uri.UriSchemeHttp;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != scheme)
        {
            return Refused(tls
                ? "is not an https:// URL such as https://10.0.0.5:18225 (with Chat:Cluster:Tls the gRPC port speaks TLS)"
                : uri?.Scheme == Uri.UriSchemeHttps
                    ? "is https://, which the gRPC port speaks only with certificates (Chat:Cluster:Tls)"
                    : "is not an http:// URL such as http://127.0.0.1:18225 (only http:// is served here; put TLS in front, e.g. nginx, for clients)");
        }

        var address = $"{uri.Host}:{uri.Port}";
        if (uri.Host == "localhost")
        {
            return new ListenUrl(null, true, uri.Port, address, null);
        }

        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip)
            ? new ListenUrl(ip, false, uri.Port, address, null)
            : Refused($"must name an IP address to listen on, localhost, or * for every address, not the host name '{uri.Host}'");
    }

    private static ListenUrl Refused(string problem) => new(null, false, 0, string.Empty, problem);
}
