using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// The operator page's side of the server (docs/operators.md): sign-in by operator token into a
/// server-side session (<see cref="OperatorSessions"/>) whose cookie is HttpOnly, SameSite=Strict and
/// Secure over HTTPS, and the same calls as the API for scripts under <c>/admin/api</c>, authenticated
/// by that cookie only. Every state-changing request must carry the session's anti-forgery token in
/// <see cref="CsrfHeader"/> and come from the page's own origin. The bearer API (<c>/api</c>) never
/// reads the cookie.
/// </summary>
public static partial class OperatorPage
{
    public const string Root = "/admin";
    public const string CookieName = "chat_operator";
    public const string CsrfHeader = "X-CSRF-Token";

    public static IEndpointRouteBuilder MapOperatorPage(this IEndpointRouteBuilder endpoints, IServiceProvider logic)
    {
        var options = logic.GetRequiredService<IOptions<OperatorOptions>>().Value;
        var sessions = logic.GetRequiredService<OperatorSessions>();
        var logger = logic.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OperatorPage).FullName!);

        var session = endpoints.MapGroup(Root + "/session").AddEndpointFilter(async (context, next) =>
        {
            context.HttpContext.Response.Headers.CacheControl = "no-store";
            return await next(context);
        });

        session.MapPost("", (SignInBody? body, HttpContext http) =>
        {
            if (!FromThisPage(http))
            {
                return Forbidden("sign in from the operator page itself");
            }

            if (options.OperatorOf(body?.Token?.Trim()) is not { } name)
            {
                Log.SignInRefused(logger);
                return Results.Json(new ApiError("that is not an operator token"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status401Unauthorized);
            }

            var (id, opened) = sessions.Open(name);
            http.Response.Cookies.Append(CookieName, id, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = http.Request.IsHttps,
                Path = Root,
                MaxAge = sessions.Lifetime,
                IsEssential = true,
            });
            Log.SignedIn(logger, name);
            return Results.Json(SessionView.Of(opened), OperatorJsonContext.Default.SessionView);
        });

        // No sign-in is an answer, not an error: 204, so a page that opens signed out logs nothing.
        session.MapGet("", (HttpContext http) => sessions.Find(http.Request.Cookies[CookieName]) is { } found
            ? Results.Json(SessionView.Of(found), OperatorJsonContext.Default.SessionView)
            : Results.NoContent());

        session.MapPost("/end", (HttpContext http) =>
        {
            var id = http.Request.Cookies[CookieName];
            if (sessions.Find(id) is not { } found)
            {
                return SignedOut();
            }

            if (!FromThisPage(http) || !OperatorSessions.IsCsrf(found, http.Request.Headers[CsrfHeader]))
            {
                return Forbidden($"the {CsrfHeader} header must carry this session's token");
            }

            sessions.Close(id);
            http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = Root, HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps });
            Log.SignedOut(logger, found.Name);
            return Results.NoContent();
        });

        var api = endpoints.MapGroup(Root + "/api").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            http.Response.Headers.CacheControl = "no-store";
            if (sessions.Find(http.Request.Cookies[CookieName]) is not { } found)
            {
                return SignedOut();
            }

            if (!HttpMethods.IsGet(http.Request.Method) && !(FromThisPage(http) && OperatorSessions.IsCsrf(found, http.Request.Headers[CsrfHeader])))
            {
                Log.ForgeryRefused(logger, found.Name, http.Request.Path);
                return Forbidden($"the {CsrfHeader} header must carry this session's token");
            }

            OperatorApi.ActAs(http, found.Name);
            return await next(context);
        });
        api.MapOperatorCalls(logic);
        return endpoints;
    }

    /// <summary>
    /// A browser names where a request comes from (Origin, Sec-Fetch-Site): a request another site
    /// made is refused even before its token is checked. A client that sends neither (a script) is not a browser.
    /// </summary>
    private static bool FromThisPage(HttpContext http)
    {
        var headers = http.Request.Headers;
        if (headers["Sec-Fetch-Site"].ToString() is { Length: > 0 } site && site is not ("same-origin" or "none"))
        {
            return false;
        }

        return headers.Origin.ToString() is not { Length: > 0 } origin
            || string.Equals(origin, $"{http.Request.Scheme}://{http.Request.Host}", StringComparison.OrdinalIgnoreCase);
    }

    private static IResult SignedOut() =>
        Results.Json(new ApiError("not signed in (or the sign-in has ended): sign in with your operator token"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status401Unauthorized);

    private static IResult Forbidden(string message) =>
        Results.Json(new ApiError(message), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status403Forbidden);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Operator {Name} signed in to the operator page.")]
        public static partial void SignedIn(ILogger logger, string name);

        [LoggerMessage(2, LogLevel.Information, "Operator {Name} signed out of the operator page.")]
        public static partial void SignedOut(ILogger logger, string name);

        [LoggerMessage(3, LogLevel.Warning, "A sign-in to the operator page with a token that is not an operator's was refused.")]
        public static partial void SignInRefused(ILogger logger);

        [LoggerMessage(4, LogLevel.Warning, "A request to {Path} in {Name}'s operator session without its anti-forgery token (or from another site) was refused.")]
        public static partial void ForgeryRefused(ILogger logger, string name, PathString path);
    }
}

internal sealed record SignInBody(string? Token);

internal sealed record SessionView(string Name, string Csrf, long Until)
{
    public static SessionView Of(OperatorSession session) => new(session.Name, session.Csrf, session.Until.ToUnixTimeMilliseconds());
}
