using System.Globalization;
using Chat.Testing.Network;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// One person in front of one browser window: their own context, page and storage, and their own
/// network path to the server (a TCP relay), which a test can cut.
/// </summary>
internal sealed class Visitor : IAsyncDisposable
{
    private const float ActionTimeoutMs = 10_000;

    private readonly TcpRelay _network;

    private Visitor(string nickName, TcpRelay network, IBrowserContext context, IPage page)
    {
        NickName = nickName;
        _network = network;
        Context = context;
        Page = page;
        page.Dialog += (_, dialog) =>
        {
            lock (Dialogs)
            {
                Dialogs.Add(dialog.Message);
            }

            _ = dialog.DismissAsync();
        };
        BrowserTests.PageErrors.CollectInto(page, PageErrors);
    }

    public string NickName { get; }

    public IBrowserContext Context { get; }

    public IPage Page { get; }

    /// <summary>Alerts, confirms and prompts the page opened (there should be none).</summary>
    public List<string> Dialogs { get; } = [];

    /// <summary>Uncaught script errors and console errors (there should be none).</summary>
    public List<string> PageErrors { get; } = [];

    public ILocator NickInput => Page.Locator("#nick");

    public ILocator NickError => Page.Locator("#nick-error");

    public ILocator PartnerTitle => Page.Locator("#partner-title");

    public ILocator Composer => Page.Locator("#message");

    public ILocator Typing => Page.Locator("#typing");

    public ILocator Banner => Page.Locator("#conn-banner");

    public ILocator OwnMessages => Page.Locator(".log:not([hidden]) .msg.own");

    public ILocator PartnerMessages => Page.Locator(".log:not([hidden]) .msg.partner");

    public ILocator Notices => Page.Locator(".log:not([hidden]) .notice");

    /// <summary>Opens the chat page in a new browser context, through a relay of the visitor's own: the page's origin is the relay's address.</summary>
    public static async Task<Visitor> OpenAsync(
        BrowserFixture browser, IChatServer server, string nickName, int width = 1000, int height = 720, ColorScheme colorScheme = ColorScheme.Light,
        bool bypassCsp = false)
    {
        var network = TcpRelay.Start(server.HttpUri);
        IBrowserContext? context = null;
        try
        {
            context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
            {
                BaseURL = network.Through(server.HttpUri).ToString(),
                ViewportSize = new ViewportSize { Width = width, Height = height },
                ColorScheme = colorScheme,
                Locale = "en-GB",
                TimezoneId = "UTC",
                // Only for injecting test tools (axe-core): the server still sends its strict CSP.
                BypassCSP = bypassCsp,
            });
            context.SetDefaultTimeout(ActionTimeoutMs);
            context.SetDefaultNavigationTimeout(ActionTimeoutMs);
            var page = await context.NewPageAsync();
            await page.GotoAsync("/");
            await Expect(page.Locator("#view-start")).ToBeVisibleAsync();
            return new Visitor(nickName, network, context, page);
        }
        catch
        {
            if (context is not null)
            {
                await context.CloseAsync();
            }

            await network.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Drops the page's connections to the server (its socket among them) without a close frame either
    /// way, as a network loss would. The page may connect again at once.
    /// </summary>
    public Task DropSocketAsync() => _network.CutAsync();

    /// <summary>Types the nickname and presses Enter: the visitor then waits for a stranger.</summary>
    public async Task EnterAsync()
    {
        await NickInput.FillAsync(NickName);
        await NickInput.PressAsync("Enter");
        await Expect(Page.Locator("body")).Not.ToHaveAttributeAsync("data-view", "start");
    }

    public async Task ExpectWaitingAsync()
    {
        await Expect(Page.Locator("#view-waiting")).ToBeVisibleAsync();
        await Expect(Page.Locator("#waiting-title")).ToHaveTextAsync("Looking for a stranger…");
    }

    public async Task ExpectChattingWithAsync(string partnerName)
    {
        await Expect(Page.Locator("#view-chat")).ToBeVisibleAsync();
        await Expect(PartnerTitle).ToHaveTextAsync(partnerName);
        await Expect(Composer).ToBeEnabledAsync();
    }

    /// <summary>Types a message and presses Enter, as a person would.</summary>
    public async Task SayAsync(string text)
    {
        await Composer.FillAsync(text);
        await Composer.PressAsync("Enter");
        await Expect(Composer).ToHaveValueAsync(string.Empty);
    }

    /// <summary>Reports the partner with the reason labelled <paramref name="reason"/>; the chat ends and the page says the report was sent.</summary>
    public async Task ReportPartnerAsync(string reason)
    {
        await Page.GetByRole(AriaRole.Button, new() { Name = "Report" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Report this stranger" });
        await dialog.GetByRole(AriaRole.Radio, new() { Name = reason }).CheckAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Report and leave" }).ClickAsync();
        await Expect(dialog).ToBeHiddenAsync();
        await Expect(Page.Locator("#announcer")).ToContainTextAsync("your report was sent");
    }

    public async Task ExpectToReceiveAsync(string text) =>
        await Expect(PartnerMessages.Last.Locator(".text")).ToHaveTextAsync(text);

    public async Task<ulong> AccountIdAsync()
    {
        await Expect(Page.Locator("body")).ToHaveAttributeAsync("data-account-id", new System.Text.RegularExpressions.Regex("^[0-9]+$"));
        var text = await Page.Locator("body").GetAttributeAsync("data-account-id");
        return ulong.Parse(text!, CultureInfo.InvariantCulture);
    }

    /// <summary>Pretends the visitor switched to another browser tab (or back).</summary>
    public Task SetTabVisibleAsync(bool visible) => Page.EvaluateAsync(
        """
        visible => {
          Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visible ? 'visible' : 'hidden' });
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => !visible });
          document.dispatchEvent(new Event('visibilitychange'));
        }
        """,
        visible);

    public async Task ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(RepoPaths.Screenshots);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoPaths.Screenshots, name + ".png") });
    }

    public async Task<(int ScrollWidth, int ClientWidth)> DocumentWidthAsync()
    {
        var widths = await Page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]");
        return (widths[0], widths[1]);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Context.CloseAsync();
        }
        finally
        {
            await _network.DisposeAsync();
        }
    }
}
