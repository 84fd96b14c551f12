using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Chat.Host.Hosting;
using Chat.Logic.Moderation;
using Chat.Tests.Abuse;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Moderation;

/// <summary>
/// The operator page's server side over HTTP on the operator's listener: sign-in into a cookie session
/// (HttpOnly, SameSite=Strict), the anti-forgery token every action must carry, the page's own CSP,
/// and the bearer API for scripts that never takes the cookie.
/// </summary>
public sealed class OperatorPageTests
{
    private static readonly (string Token, string Line) Alice = OperatorOptions.NewToken("alice");

    private static Task<LimitedServer> StartAsync() =>
        LimitedServer.StartAsync("Chat:Operator:Url=http://127.0.0.1:0", $"Chat:Operator:Tokens:alice={Alice.Line[(Alice.Line.IndexOf('=') + 1)..]}");

    /// <summary>A client that keeps no cookies of its own: each test says which cookie it sends.</summary>
    private static HttpClient Client(LimitedServer server) =>
        new(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = server.Server.Get<OperatorServer>().Address, Timeout = TestClient.Timeout };

    private static async Task<(string Cookie, string Csrf, string SetCookie)> SignInAsync(HttpClient http, string token)
    {
        using var answer = await http.PostAsJsonAsync("/admin/session", new { token });
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var setCookie = Assert.Single(answer.Headers.GetValues("Set-Cookie"));
        var session = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("alice", session.GetProperty("name").GetString());
        return (setCookie.Split(';')[0], session.GetProperty("csrf").GetString()!, setCookie);
    }

    private static HttpRequestMessage Post(string path, object body, string? cookie, string? csrf, string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        if (csrf is not null)
        {
            request.Headers.Add(OperatorPage.CsrfHeader, csrf);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return request;
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string path, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var answer = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        return JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
    }

    [Fact]
    public async Task The_page_is_served_with_its_strict_policy_on_the_operator_listener_only()
    {
        await using var server = await StartAsync();
        using var http = Client(server);
        using var page = await http.GetAsync("/admin/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Operator token", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(SecurityHeaders.OperatorContentSecurityPolicy, page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("default-src 'none'", SecurityHeaders.OperatorContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/admin/js/main.js")).StatusCode);

        using var visitors = new HttpClient { BaseAddress = server.Server.HttpUri, Timeout = TestClient.Timeout };
        foreach (var path in new[] { "/admin/", "/admin/js/main.js", "/admin/session" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await visitors.GetAsync(path)).StatusCode);
        }
    }

    [Fact]
    public async Task Signing_in_sets_an_HttpOnly_SameSite_Strict_cookie_a_wrong_token_gets_none_and_the_script_api_never_takes_the_cookie()
    {
        await using var server = await StartAsync();
        using var http = Client(server);
        using var wrong = await http.PostAsJsonAsync("/admin/session", new { token = OperatorOptions.NewToken("alice").Token });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.False(wrong.Headers.Contains("Set-Cookie"));

        var (cookie, _, setCookie) = await SignInAsync(http, Alice.Token);
        var attributes = setCookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).ToList();
        Assert.Contains("httponly", attributes, StringComparer.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", attributes, StringComparer.OrdinalIgnoreCase);
        Assert.Contains("path=/admin", attributes, StringComparer.OrdinalIgnoreCase);
        Assert.Contains(attributes, a => a.StartsWith("max-age=", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, (await GetAsync(http, "/admin/api/counts", cookie)).GetProperty("bansInForce").GetInt32());

        using var scripts = new HttpRequestMessage(HttpMethod.Get, "/api/counts");
        scripts.Headers.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(scripts)).StatusCode);

        // And a bearer token does not open the page's calls: they are the cookie's only.
        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/admin/api/counts");
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Alice.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(bearer)).StatusCode);
    }

    [Fact]
    public async Task An_action_without_the_sessions_anti_forgery_token_or_from_another_site_is_refused_and_changes_nothing()
    {
        await using var server = await StartAsync();
        using var http = Client(server);
        var (cookie, csrf, _) = await SignInAsync(http, Alice.Token);
        var ban = new { target = "address", value = "203.0.113.7", minutes = 60, reason = "flooding" };

        using (var noToken = await http.SendAsync(Post("/admin/api/bans", ban, cookie, csrf: null)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, noToken.StatusCode);
        }

        using (var otherToken = await http.SendAsync(Post("/admin/api/bans", ban, cookie, csrf: csrf[..^2] + "xx")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, otherToken.StatusCode);
        }

        using (var otherSite = await http.SendAsync(Post("/admin/api/bans", ban, cookie, csrf, origin: "https://evil.example")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, otherSite.StatusCode);
        }

        Assert.Empty((await GetAsync(http, "/admin/api/bans", cookie)).EnumerateArray());
        Assert.Empty((await GetAsync(http, "/admin/api/audit", cookie)).EnumerateArray());

        using (var made = await http.SendAsync(Post("/admin/api/bans", ban, cookie, csrf, origin: http.BaseAddress!.GetLeftPart(UriPartial.Authority))))
        {
            Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        }

        var entry = Assert.Single((await GetAsync(http, "/admin/api/audit", cookie)).EnumerateArray());
        Assert.Equal("alice", entry.GetProperty("actor").GetString());
        Assert.Equal("flooding", entry.GetProperty("reason").GetString());

        // Signing out needs the token too; afterwards the cookie opens nothing.
        using (var forgedOut = await http.SendAsync(Post("/admin/session/end", new { }, cookie, csrf: null)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forgedOut.StatusCode);
        }

        using (var signedOut = await http.SendAsync(Post("/admin/session/end", new { }, cookie, csrf)))
        {
            Assert.Equal(HttpStatusCode.NoContent, signedOut.StatusCode);
        }

        using var after = new HttpRequestMessage(HttpMethod.Get, "/admin/api/bans");
        after.Headers.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(after)).StatusCode);
    }

    [Fact]
    public async Task A_sign_in_with_a_body_too_big_is_refused_with_413_before_it_is_read_and_the_listener_goes_on()
    {
        await using var server = await StartAsync();
        using var http = Client(server);
        // Anyone who reaches the listener may try to sign in: a megabyte is refused, not parsed.
        using var big = await http.PostAsJsonAsync("/admin/session", new { token = new string('x', 1 << 20) });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Empty(big.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : []);

        var (cookie, _, _) = await SignInAsync(http, Alice.Token);
        Assert.Equal("alice", (await GetAsync(http, "/admin/session", cookie)).GetProperty("name").GetString());
    }

    [Fact]
    public async Task A_sign_in_ends_after_its_lifetime()
    {
        await using var server = await StartAsync();
        using var http = Client(server);
        var (cookie, _, _) = await SignInAsync(http, Alice.Token);
        await GetAsync(http, "/admin/session", cookie);
        server.Clock.Advance(TimeSpan.FromHours(1));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/api/reports");
        request.Headers.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request)).StatusCode);
    }
}
