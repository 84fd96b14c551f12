using Chat.Logic.Moderation;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// The operator page in Chromium, under its own strict CSP: a report made in one visitor's browser shows
/// up on it with its evidence (a stranger's markup shown as text), a ban made there closes the reported
/// visitor's socket and their page says why; the sign-in cookie is HttpOnly and SameSite=Strict, and the
/// page passes axe's WCAG 2.1 A/AA rules in light and dark.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class OperatorPageInBrowserTests(BrowserFixture browser)
{
    private const string Markup = "<img src=x onerror=alert(1)> call me";

    [Fact]
    public async Task A_report_shows_up_on_the_operator_page_and_a_ban_made_there_closes_the_reported_visitors_page_with_the_reason()
    {
        var (server, token, page) = await BrowserServer.StartWithOperatorAsync();
        await using var _ = server;
        var (troll, bob) = await ChattingAsync(server, Markup);
        await using var __ = troll;
        await using var ___ = bob;

        // The operator signs in first and watches the queue: the report arrives while the page is open.
        await using var desk = await OperatorDesk.OpenAsync(browser, page, ColorScheme.Light, bypassCsp: false);
        await desk.SignInAsync(token);
        await Expect(desk.Page.Locator("#reports-empty")).ToBeVisibleAsync();

        await bob.ReportPartnerAsync("Harassment or threats");
        await Expect(troll.Notices.Last).ToContainTextAsync("left");

        var report = desk.Page.Locator("#reports > li").First;
        await Expect(report).ToBeVisibleAsync();
        await Expect(report.Locator("h3")).ToContainTextAsync("harassment");
        await Expect(report.Locator(".evidence li[data-sender=reported] .content")).ToHaveTextAsync(Markup);
        Assert.Equal(0, await desk.Page.Locator("#reports img").CountAsync()); // text, never markup
        await Expect(desk.Page.Locator("[data-count=openReports]")).ToHaveTextAsync("1");

        // The cookie the browser keeps: HttpOnly (the page's script cannot read it), SameSite=Strict.
        var cookie = Assert.Single(await desk.Context.CookiesAsync());
        Assert.Equal(OperatorPage.CookieName, cookie.Name);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.Equal("/admin", cookie.Path);
        Assert.Equal(string.Empty, await desk.Page.EvaluateAsync<string>("() => document.cookie"));

        await report.GetByRole(AriaRole.Button, new() { Name = "Ban the reported account" }).ClickAsync();
        await Expect(desk.Page.GetByLabel("Account id or address")).Not.ToHaveValueAsync(string.Empty);
        await desk.Page.GetByLabel("Reason (the banned visitor is shown it)").FillAsync("threatening other visitors");
        await desk.Page.GetByRole(AriaRole.Button, new() { Name = "Ban", Exact = true }).ClickAsync();
        var ban = desk.Page.Locator("#bans > li").First;
        await Expect(ban).ToContainTextAsync("threatening other visitors");
        var reference = await ban.GetAttributeAsync("data-ban");
        Assert.StartsWith("B-", reference, StringComparison.Ordinal);

        await Expect(troll.Banner).ToBeVisibleAsync();
        await Expect(troll.Banner).ToContainTextAsync("threatening other visitors");
        await Expect(troll.Banner).ToContainTextAsync(reference!);
        await Expect(troll.Page.Locator("body")).ToHaveAttributeAsync("data-banned", "true");

        // Closing the report and lifting the ban are audited under the operator's name.
        await report.GetByLabel("Why close it").FillAsync("banned");
        await report.GetByRole(AriaRole.Button, new() { Name = "Close report" }).ClickAsync();
        await Expect(desk.Page.Locator("#reports-empty")).ToBeVisibleAsync();
        await Expect(desk.Page.Locator("#audit tbody tr")).ToHaveCountAsync(2);
        await Expect(desk.Page.Locator("#audit tbody tr").First).ToContainTextAsync("close_report");
        await Expect(desk.Page.Locator("#audit tbody tr").Last).ToContainTextAsync("ops");
        await desk.ScreenshotAsync("operator-desk");

        await desk.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(desk.Page.Locator("#view-signin")).ToBeVisibleAsync();
        Assert.Empty(await desk.Context.CookiesAsync());
        Assert.True(desk.PageErrors.Count == 0, string.Join('\n', desk.PageErrors)); // among them any refusal by the page's CSP
    }

    [Theory]
    [InlineData(ColorScheme.Light)]
    [InlineData(ColorScheme.Dark)]
    public async Task The_operator_page_has_no_WCAG_21_AA_violation(ColorScheme scheme)
    {
        var where = scheme.ToString().ToLowerInvariant();
        var (server, token, page) = await BrowserServer.StartWithOperatorAsync();
        await using var _ = server;
        var (troll, bob) = await ChattingAsync(server, "buy cheap followers now");
        await using var __ = troll;
        await using var ___ = bob;
        await bob.ReportPartnerAsync("Spam or advertising");

        await using var desk = await OperatorDesk.OpenAsync(browser, page, scheme, bypassCsp: true);
        await AxeScan.ExpectNoViolationsAsync(desk.Page, $"operator sign-in ({where})", "#signin-title", "#token-hint");
        await desk.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(desk.Page.Locator("#signin-error")).ToBeVisibleAsync();
        await AxeScan.ExpectNoViolationsAsync(desk.Page, $"operator sign-in error ({where})", "#signin-error");

        await desk.SignInAsync(token);
        await Expect(desk.Page.Locator("#reports .evidence .content")).ToHaveTextAsync("buy cheap followers now");
        await desk.Page.Locator("#reports > li").First.GetByRole(AriaRole.Button, new() { Name = "Close report" }).ClickAsync();
        await Expect(desk.Page.Locator("#reports .error")).ToBeVisibleAsync();
        await AxeScan.ExpectNoViolationsAsync(desk.Page, $"operator desk with a report ({where})", "#reports .content", "#reports h3", "#counts dd", ".facts dt", "#reports .error", "#bans-empty");

        await desk.Page.GetByLabel("Account id or address").FillAsync("203.0.113.50");
        await desk.Page.GetByLabel("An address (IPv6: its /64)").CheckAsync();
        await desk.Page.GetByLabel("Reason (the banned visitor is shown it)").FillAsync("flooding");
        await desk.Page.GetByRole(AriaRole.Button, new() { Name = "Ban", Exact = true }).ClickAsync();
        await Expect(desk.Page.Locator("#bans > li")).ToHaveCountAsync(1);
        await Expect(desk.Page.Locator("#audit tbody tr")).ToHaveCountAsync(1);
        await AxeScan.ExpectNoViolationsAsync(desk.Page, $"operator desk with a ban ({where})", "#bans .note", "#audit td", "#status");
        await desk.ScreenshotAsync($"operator-desk-{where}");
    }

    /// <summary>Troll and Bob in a chat, in browsers of their own; Troll has said <paramref name="trollSays"/>.</summary>
    private async Task<(Visitor Troll, Visitor Bob)> ChattingAsync(ChatServer server, string trollSays)
    {
        var troll = await Visitor.OpenAsync(browser, server, "Troll");
        var bob = await Visitor.OpenAsync(browser, server, "Bob");
        await troll.EnterAsync();
        await troll.ExpectWaitingAsync();
        await bob.EnterAsync();
        await bob.ExpectChattingWithAsync("Troll");
        await troll.SayAsync(trollSays);
        await bob.ExpectToReceiveAsync(trollSays);
        return (troll, bob);
    }

    /// <summary>The operator's browser: its own context on the operator listener, its errors kept.</summary>
    private sealed class OperatorDesk : IAsyncDisposable
    {
        private OperatorDesk(IBrowserContext context, IPage page)
        {
            Context = context;
            Page = page;
            BrowserTests.PageErrors.CollectInto(page, PageErrors);
        }

        public IBrowserContext Context { get; }

        public IPage Page { get; }

        public List<string> PageErrors { get; } = [];

        public static async Task<OperatorDesk> OpenAsync(BrowserFixture browser, Uri page, ColorScheme scheme, bool bypassCsp)
        {
            var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
            {
                ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
                ColorScheme = scheme,
                Locale = "en-GB",
                TimezoneId = "UTC",
                BypassCSP = bypassCsp, // only for injecting axe-core: the server still sends its strict CSP
            });
            context.SetDefaultTimeout(10_000);
            var desk = new OperatorDesk(context, await context.NewPageAsync());
            var answer = await desk.Page.GotoAsync(page.ToString());
            Assert.Equal(Chat.Host.Hosting.SecurityHeaders.OperatorContentSecurityPolicy, answer!.Headers["content-security-policy"]);
            await Expect(desk.Page.Locator("#view-signin")).ToBeVisibleAsync();
            return desk;
        }

        public async Task SignInAsync(string token)
        {
            await Page.GetByLabel("Operator token").FillAsync(token);
            await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await Expect(Page.Locator("#view-desk")).ToBeVisibleAsync();
            await Expect(Page.Locator("#who-name")).ToHaveTextAsync("ops");
        }

        public async Task ScreenshotAsync(string name)
        {
            Directory.CreateDirectory(RepoPaths.Screenshots);
            await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
        }

        public ValueTask DisposeAsync() => new(Context.CloseAsync());
    }
}
