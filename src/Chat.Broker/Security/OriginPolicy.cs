using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Security;

/// <summary>
/// Decides whether a browser page may open a socket (Cross-Site WebSocket Hijacking protection):
/// by default only a page of the same origin (scheme, host and port) may.
/// Requests without an Origin header come from non-browser clients and are not refused for that.
/// </summary>
internal sealed class OriginPolicy(IOptions<BrokerOptions> options)
{
    private readonly HashSet<string> _allowed = new(
        options.Value.AllowedOrigins.Select(o => o.Trim().TrimEnd('/')),
        StringComparer.OrdinalIgnoreCase);

    public bool IsAllowed(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin) || _allowed.Contains("*"))
        {
            return true;
        }

        if (_allowed.Count > 0)
        {
            return _allowed.Contains(origin.TrimEnd('/'));
        }

        // Same origin only: the page must come from the scheme, host and port the socket is opened on
        // (behind a proxy that ends TLS, the scheme is the one it forwards, X-Forwarded-Proto).
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var page) || !request.Host.HasValue)
        {
            return false;
        }

        var port = request.Host.Port ?? (request.IsHttps ? 443 : 80);
        return string.Equals(page.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(page.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase)
            && page.Port == port;
    }
}
