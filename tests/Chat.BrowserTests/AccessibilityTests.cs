using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// Issue 14: every view of the web client, reached for real against the server, passes axe-core's
/// WCAG 2.1 A and AA rules at phone and desktop width, in light and dark. Alice (the longest
/// nickname allowed) and Bob go through the whole life of a chat; the page is scanned at each step.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AccessibilityTests(BrowserFixture browser)
{
    private const string LongName = "Alice_with_a_very_long_nicknam";

    [Theory]
    [InlineData(375, ColorScheme.Light)]
    [InlineData(375, ColorScheme.Dark)]
    [InlineData(1280, ColorScheme.Light)]
    [InlineData(1280, ColorScheme.Dark)]
    public async Task Every_view_has_no_WCAG_21_AA_violation(int width, ColorScheme scheme)
    {
        var height = width < 600 ? 700 : 800;
        var where = $"{width} px, {scheme.ToString().ToLowerInvariant()}";
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, LongName, width, height, scheme, bypassCsp: true);
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob", width, height, scheme, bypassCsp: true);
        // Alice's socket runs through a route so a second conversation can be pushed to her (tabs).
        var aliceSocket = await SocketTap.OpenAsync(alice.Page);
        Task ScanAsync(Visitor visitor, string view, params string[] mustCheck) =>
            AxeScan.ExpectNoViolationsAsync(visitor.Page, $"{view} ({visitor.NickName}, {where})", mustCheck);

        // Bypassing CSP is the test browser's alone: the page is still served with its strict policy.
        var index = await alice.Page.APIRequest.GetAsync("/");
        Assert.Equal(Chat.Host.Hosting.SecurityHeaders.ContentSecurityPolicy, index.Headers["content-security-policy"]);

        // Start, then the nickname error.
        await ScanAsync(alice, "start", "#start-title", ".lead", "#nick-hint");
        await alice.Page.Locator("#nick-submit").ClickAsync();
        await Expect(alice.NickError).ToHaveTextAsync("Please enter a nickname.");
        await ScanAsync(alice, "nickname error", "#nick-error");

        // Waiting, with the long nickname in the header: one line, ellipsis, full name kept.
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await Expect(alice.Page.Locator("#stats")).ToHaveTextAsync("1 person online, 1 waiting for a partner.");
        await ScanAsync(alice, "waiting", "#stats", "#who-name");
        await ExpectNicknameInHeaderAsync(alice, cut: width < 600);

        // Chat: bubbles both ways, one message read (✓✓) and one only stored (✓).
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync(LongName);
        await alice.SayAsync("Hi Bob!");
        await bob.ExpectToReceiveAsync("Hi Bob!");
        await bob.SayAsync("Hello there");
        await alice.ExpectToReceiveAsync("Hello there");
        await Expect(alice.OwnMessages.First).ToHaveAttributeAsync("data-status", "read");
        await bob.SetTabVisibleAsync(false);
        await alice.SayAsync("Still there?");
        await bob.ExpectToReceiveAsync("Still there?");
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "sent");
        await ScanAsync(alice, "chat", ".msg.own[data-status=read] .status", ".msg.own[data-status=sent] .status",
            ".msg.own .time", ".msg.partner .time", ".msg.partner .text", ".notice[data-kind=start]");
        await bob.SetTabVisibleAsync(true);
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "read");
        await ScanAsync(bob, "chat", "#partner-title", ".msg.own .status", ".msg.partner .time");

        // Partner typing: Bob keeps typing while Alice's page is scanned.
        var typing = bob.Composer.PressSequentiallyAsync("let me think about that", new() { Delay = 120 });
        await Expect(alice.Typing).ToHaveTextAsync("Bob is typing…");
        await ScanAsync(alice, "partner typing", "#typing");
        await typing;
        await bob.Composer.PressAsync("Enter");
        await alice.ExpectToReceiveAsync("let me think about that");

        // Bob's connection drops: his reconnecting banner and queued message, Alice's notice.
        // Cut first, then offline: Chromium's offline emulation holds back what arrives on open sockets,
        // the reset among it, and the page would not see its socket die. Its first retry waits 250 ms or more.
        await bob.DropSocketAsync();
        await bob.Context.SetOfflineAsync(true);
        await Expect(bob.Banner).ToBeVisibleAsync();
        await bob.SayAsync("written while offline");
        await Expect(bob.OwnMessages.Last).ToHaveAttributeAsync("data-status", "queued");
        // The queued mark "…" is punctuation, which axe never measures; it shares its colour with the time.
        await ScanAsync(bob, "reconnecting banner", "#conn-text", ".msg.own[data-status=queued] .time");
        await Expect(alice.Notices.Last).ToHaveTextAsync("Bob's connection dropped. They may be back soon.");
        await ScanAsync(alice, "partner away", ".notice[data-kind=away]");
        await bob.Context.SetOfflineAsync(false);
        await Expect(bob.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });
        await Expect(bob.Banner).ToBeHiddenAsync();
        await alice.ExpectToReceiveAsync("written while offline");

        // Tabs: a second conversation is pushed to Alice, with an unread message.
        var aliceId = await alice.AccountIdAsync();
        aliceSocket.PushDoraMatched(aliceId);
        aliceSocket.PushFromDora(7, "hi, Dora here");
        var tabs = alice.Page.GetByRole(AriaRole.Tab);
        await Expect(tabs).ToHaveCountAsync(2);
        await Expect(tabs.Nth(1).Locator(".badge")).ToHaveTextAsync("1");
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Bob");
        await ScanAsync(alice, "tabs", ".tab[aria-selected=true] .tab-name", ".tab[aria-selected=false] .tab-name", ".badge");
        await alice.ScreenshotAsync($"a11y-tabs-{width}-{scheme.ToString().ToLowerInvariant()}");

        // Bob ends the chat: Alice sees he left, Bob sees he did.
        await bob.Page.Locator("#end-chat").ClickAsync();
        await Expect(alice.Notices.Last).ToHaveTextAsync("Bob left the chat.");
        await Expect(alice.Composer).ToBeDisabledAsync();
        await ScanAsync(alice, "partner left", ".notice[data-kind=left]");
        await Expect(bob.Notices.Last).ToHaveTextAsync("You left the chat.");
        await ScanAsync(bob, "chat ended", ".notice[data-kind=ended]");
    }

    /// <summary>
    /// The header names the visitor on one line. On a phone a long nickname ends in an ellipsis
    /// instead of wrapping mid-word, and the full name is still there (title and the text itself).
    /// </summary>
    private static async Task ExpectNicknameInHeaderAsync(Visitor visitor, bool cut)
    {
        var who = visitor.Page.Locator("#who");
        await Expect(visitor.Page.Locator("#who-name")).ToHaveTextAsync(visitor.NickName);
        await Expect(who).ToHaveAttributeAsync("title", $"You are {visitor.NickName}");
        var box = await who.EvaluateAsync<JsonElement>(
            """
            el => {
              const style = getComputedStyle(el);
              return { height: el.getBoundingClientRect().height, line: parseFloat(style.lineHeight),
                       cut: el.scrollWidth > el.clientWidth, overflow: style.textOverflow };
            }
            """);
        var height = box.GetProperty("height").GetDouble();
        var line = box.GetProperty("line").GetDouble();
        Assert.True(height < line * 1.5, $"#who is {height}px high for a {line}px line: the nickname wraps");
        Assert.Equal(cut, box.GetProperty("cut").GetBoolean());
        Assert.Equal("ellipsis", box.GetProperty("overflow").GetString());
    }
}
