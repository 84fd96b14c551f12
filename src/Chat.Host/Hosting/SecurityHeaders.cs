namespace Chat.Host.Hosting;

public static class SecurityHeaders
{
    /// <summary>
    /// A strict Content-Security-Policy for the web client: only our own scripts and styles, no
    /// inline code, sockets only back to the same origin ('self' covers ws: and wss: to it, CSP 3).
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    /// <summary>
    /// The operator page's own policy (<c>/admin</c> on the operator's listener), stricter than the
    /// visitors': nothing but its own scripts, styles and calls back to that listener; no frames, no
    /// images, forms only to itself.
    /// </summary>
    public const string OperatorContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XFrameOptions = "DENY";
        return next(context);
    });
}
