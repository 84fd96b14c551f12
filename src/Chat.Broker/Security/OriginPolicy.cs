using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Security;

/// <summary>
/// Decides whether a browser page may open a socket (Cross-Site WebSocket Hijacking protection).
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

        // Same host only: the page must come from the host and port the socket is opened on.
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var page) || !request.Host.HasValue)
        {
            return false;
        }

        var hostPort = request.Host.Port ?? page.Port;
        return string.Equals(page.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase) && page.Port == hostPort;
    }
}
