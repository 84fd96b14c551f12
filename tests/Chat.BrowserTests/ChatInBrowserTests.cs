using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// The browser client against a real in-process server, in real headless Chromium. Each test
/// starts its own server, so no test meets another's visitors in the waiting pool.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ChatInBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task Nickname_is_checked_before_anything_is_sent()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var visitor = await Visitor.OpenAsync(browser, server, "x");

        await visitor.Page.Locator("#nick-submit").ClickAsync();
        await Expect(visitor.NickError).ToBeVisibleAsync();
        await Expect(visitor.NickError).ToHaveTextAsync("Please enter a nickname.");

        await visitor.NickInput.FillAsync(new string('a', 31));
        await visitor.NickInput.PressAsync("Enter");
        await Expect(visitor.NickError).ToContainTextAsync("at most 30 characters");
        await Expect(visitor.NickInput).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(visitor.Page.Locator("#view-start")).ToBeVisibleAsync();
        await visitor.ScreenshotAsync("01-nickname-error");

        await visitor.NickInput.FillAsync(new string('a', 30));
        await Expect(visitor.NickError).ToBeHiddenAsync();
        await visitor.NickInput.PressAsync("Enter");
        await visitor.ExpectWaitingAsync();
    }

    [Fact]
    public async Task Two_visitors_are_matched_and_chat_both_ways()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        await alice.ScreenshotAsync("01-nickname");

        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        // The waiting screen polls STATS_REQ: Alice is online and waiting.
        await Expect(alice.Page.Locator("#stats")).ToHaveTextAsync("1 person online, 1 waiting for a partner.");
        await alice.ScreenshotAsync("02-waiting");

        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync("Alice");
        await Expect(alice.Page.Locator("#who-name")).ToHaveTextAsync("Alice");

        await alice.SayAsync("Hi Bob, how is the weather?");
        await bob.ExpectToReceiveAsync("Hi Bob, how is the weather?");
        await Expect(bob.PartnerMessages.Last.Locator("time")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d{1,2}:\d{2}"));
        await Expect(alice.Composer).ToBeFocusedAsync();

        await bob.SayAsync("Sunny!\nAnd warm.");
        await alice.ExpectToReceiveAsync("Sunny!\nAnd warm.");

        // Shift+Enter adds a line instead of sending.
        await alice.Composer.FillAsync("first line");
        await alice.Composer.PressAsync("Shift+Enter");
        await alice.Composer.PressSequentiallyAsync("second line");
        await Expect(alice.Composer).ToHaveValueAsync("first line\nsecond line");
        await alice.Composer.PressAsync("Enter");
        await bob.ExpectToReceiveAsync("first line\nsecond line");

        await Expect(alice.OwnMessages).ToHaveCountAsync(2);
        await Expect(alice.PartnerMessages).ToHaveCountAsync(1);
        await Expect(bob.OwnMessages).ToHaveCountAsync(1);
        await Expect(bob.PartnerMessages).ToHaveCountAsync(2);
        await alice.ScreenshotAsync("03-chat");
        Assert.Empty(alice.PageErrors);
        Assert.Empty(bob.PageErrors);
    }

    [Fact]
    public async Task Sent_shows_one_tick_and_read_shows_two()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;

        // Bob has switched to another tab: Alice's message reaches the server but is not read.
        await bob.SetTabVisibleAsync(false);
        await alice.SayAsync("Are you there?");
        var mine = alice.OwnMessages.Last;
        await Expect(mine).ToHaveAttributeAsync("data-status", "sent");
        await Expect(mine.Locator(".status")).ToHaveTextAsync("✓");
        await bob.ExpectToReceiveAsync("Are you there?");
        await Expect(bob.Page.Locator("#tabs")).ToBeHiddenAsync();
        // Not read while hidden: still one tick after Bob's copy is on his page.
        await Expect(mine.Locator(".status")).ToHaveTextAsync("✓");
        await alice.ScreenshotAsync("04-sent");

        // Bob comes back to the tab: he reads it, and Alice sees two ticks.
        await bob.SetTabVisibleAsync(true);
        await Expect(mine).ToHaveAttributeAsync("data-status", "read");
        await Expect(mine.Locator(".status")).ToHaveTextAsync("✓✓");
        await Expect(mine.Locator(".status")).ToHaveAttributeAsync("aria-label", "Read");
        await alice.ScreenshotAsync("05-read");
    }

    [Fact]
    public async Task Typing_indicator_shows_while_the_partner_types()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;

        await Expect(alice.Typing).ToBeHiddenAsync();
        await bob.Composer.PressSequentiallyAsync("let me think");
        await Expect(alice.Typing).ToBeVisibleAsync();
        await Expect(alice.Typing).ToHaveTextAsync("Bob is typing…");
        await alice.ScreenshotAsync("06-typing");

        // The message arriving replaces the indicator.
        await bob.Composer.PressAsync("Enter");
        await alice.ExpectToReceiveAsync("let me think");
        await Expect(alice.Typing).ToBeHiddenAsync();
    }

    [Fact]
    public async Task New_stranger_ends_the_chat_and_matches_a_third_visitor()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;
        await using var carol = await Visitor.OpenAsync(browser, server, "Carol");
        await carol.EnterAsync();
        await carol.ExpectWaitingAsync();

        await alice.Page.Locator("#new-stranger").ClickAsync();

        await alice.ExpectChattingWithAsync("Carol");
        await carol.ExpectChattingWithAsync("Alice");
        await Expect(alice.PartnerMessages).ToHaveCountAsync(0);
        // Bob is told Alice left, and can no longer write into that chat.
        await Expect(bob.Notices.Last).ToHaveTextAsync("Alice left the chat.");
        await Expect(bob.Composer).ToBeDisabledAsync();
        await Expect(bob.Page.Locator("#end-chat")).ToBeDisabledAsync();

        await carol.SayAsync("Hello from Carol");
        await alice.ExpectToReceiveAsync("Hello from Carol");
        await alice.SayAsync("Hi Carol");
        await carol.ExpectToReceiveAsync("Hi Carol");
    }

    [Fact]
    public async Task Partner_leaving_shows_a_notice_and_new_stranger_waits_again()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;
        await alice.SayAsync("Bye now");
        await bob.ExpectToReceiveAsync("Bye now");

        await alice.Page.Locator("#end-chat").ClickAsync();

        await Expect(alice.Notices.Last).ToHaveTextAsync("You left the chat.");
        await Expect(bob.Notices.Last).ToHaveTextAsync("Alice left the chat.");
        await Expect(bob.Composer).ToBeDisabledAsync();
        await Expect(bob.Page.Locator("#partner-dot")).ToHaveAttributeAsync("data-state", "ended");
        // The conversation stays readable after the partner left.
        await Expect(bob.PartnerMessages.Last.Locator(".text")).ToHaveTextAsync("Bye now");
        await Expect(bob.Page.Locator("#announcer")).ToContainTextAsync("Alice left the chat.");
        await bob.ScreenshotAsync("07-partner-left");

        await bob.Page.Locator("#new-stranger").ClickAsync();
        await bob.ExpectWaitingAsync();
    }

    [Fact]
    public async Task Closing_the_window_ends_the_chat_for_the_partner()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;

        await alice.Page.CloseAsync(new() { RunBeforeUnload = false });

        await Expect(bob.Notices.Last).ToHaveTextAsync("Alice left the chat.");
        await Expect(bob.Composer).ToBeDisabledAsync();
    }

    [Fact]
    public async Task Dropped_socket_reconnects_by_itself_and_the_chat_goes_on()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;
        await alice.SayAsync("before the drop");
        await bob.ExpectToReceiveAsync("before the drop");
        var aliceId = await alice.AccountIdAsync();
        var token = await alice.Page.EvaluateAsync<string>("() => JSON.parse(sessionStorage.getItem('chat.account')).token");
        Assert.False(string.IsNullOrEmpty(token));

        // The network goes away and the server loses Alice's socket without a close frame.
        // Cut first, then offline: Chromium's offline emulation holds back what arrives on open sockets,
        // the reset among it, and the page would not see its socket die. Its first retry waits 250 ms or more.
        await alice.DropSocketAsync();
        await alice.Context.SetOfflineAsync(true);
        await Expect(alice.Banner).ToBeVisibleAsync();
        await Expect(alice.Page.Locator("#conn-text")).ToContainTextAsync("Connection lost");
        // What she writes meanwhile is kept, marked as waiting for the connection.
        await alice.SayAsync("written while offline");
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "queued");
        await Expect(alice.OwnMessages.First.Locator(".text")).ToHaveTextAsync("before the drop");
        await alice.ScreenshotAsync("08-connection-lost");
        // Bob is told Alice's connection dropped; the chat is not over for him either.
        await Expect(bob.Notices.Last).ToHaveTextAsync("Alice's connection dropped. They may be back soon.");
        await Expect(bob.Page.Locator("#partner-dot")).ToHaveAttributeAsync("data-state", "away");
        await Expect(bob.Composer).ToBeEnabledAsync();

        // The network comes back: the page reconnects with its stored account, no click needed.
        await alice.Context.SetOfflineAsync(false);
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });
        await Expect(alice.Banner).ToBeHiddenAsync();
        await alice.ExpectChattingWithAsync("Bob");
        Assert.Equal(aliceId, await alice.AccountIdAsync());
        await Expect(bob.Page.Locator(".log:not([hidden]) .notice[data-kind=back]")).ToHaveTextAsync("Alice is back.");
        await Expect(bob.Page.Locator("#partner-dot")).ToHaveAttributeAsync("data-state", "online");

        // The queued message went out once, and the chat continues both ways.
        await bob.ExpectToReceiveAsync("written while offline");
        await Expect(alice.OwnMessages.Last).Not.ToHaveAttributeAsync("data-status", "queued");
        await alice.SayAsync("after the drop");
        await bob.ExpectToReceiveAsync("after the drop");
        await bob.SayAsync("welcome back");
        await alice.ExpectToReceiveAsync("welcome back");
        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(["before the drop", "written while offline", "after the drop"]);
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "read");
        await alice.ScreenshotAsync("09-reconnected");
    }

    [Fact]
    public async Task Server_restart_is_survived_and_the_chat_goes_on()
    {
        // The chat waits a grace period for its visitors to come back; on a loaded machine a restart and
        // the pages' back-off took longer than the default 30 s (CI: the chat had ended when they were back).
        await using var server = await BrowserServer.StartAsync("Chat:Logic:GracePeriod=00:02:00");
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;
        await alice.SayAsync("before the restart");
        await bob.ExpectToReceiveAsync("before the restart");

        await server.RestartAsync();

        // Both pages come back by themselves to the new process, with the same accounts and chat.
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });
        await Expect(bob.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync("Alice");
        await alice.SayAsync("after the restart");
        await bob.ExpectToReceiveAsync("after the restart");
        await bob.SayAsync("still here");
        await alice.ExpectToReceiveAsync("still here");
        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(["before the restart", "after the restart"]);
    }

    [Fact]
    public async Task Markup_in_a_message_is_shown_as_text_and_never_runs()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;
        const string Attack = "<img src=x onerror=alert(1)>";

        await alice.SayAsync(Attack);
        await bob.ExpectToReceiveAsync(Attack);
        await alice.SayAsync("<b>bold?</b><script>alert(2)</script>");
        await bob.ExpectToReceiveAsync("<b>bold?</b><script>alert(2)</script>");

        Assert.Equal(0, await bob.Page.Locator(".log img, .log b, .log script").CountAsync());
        Assert.Equal(0, await alice.Page.Locator(".log img, .log b, .log script").CountAsync());
        // A round trip after the markup arrived, so any handler would have fired by now.
        await bob.SayAsync("seen it");
        await alice.ExpectToReceiveAsync("seen it");
        Assert.Empty(bob.Dialogs);
        Assert.Empty(alice.Dialogs);
    }

    [Fact]
    public async Task Narrow_screen_has_no_horizontal_scroll_in_light_and_dark()
    {
        // The links rule off: Bob's first message is a long link, which it would refuse.
        await using var server = await BrowserServer.StartAsync("Chat:Filter:Links:FirstMessages=0");
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice_with_a_very_long_nickname"[..30], width: 375, height: 700);
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob", width: 375, height: 700, colorScheme: ColorScheme.Dark);

        await AssertNoHorizontalScrollAsync(alice);
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await bob.ExpectChattingWithAsync(alice.NickName);
        await alice.ExpectChattingWithAsync("Bob");

        var longWord = string.Concat(Enumerable.Repeat("Supercalifragilistic", 12));
        await alice.SayAsync(longWord);
        await bob.ExpectToReceiveAsync(longWord);
        await bob.SayAsync("short reply, then a link: https://example.invalid/" + new string('x', 150));
        await alice.ExpectToReceiveAsync("short reply, then a link: https://example.invalid/" + new string('x', 150));

        await AssertNoHorizontalScrollAsync(alice);
        await AssertNoHorizontalScrollAsync(bob);
        // The long word wraps inside its bubble instead of widening it past the screen.
        var bubble = await bob.PartnerMessages.Last.BoundingBoxAsync();
        Assert.NotNull(bubble);
        Assert.True(bubble.X + bubble.Width <= 375, $"bubble ends at {bubble.X + bubble.Width}px");

        // prefers-color-scheme: the dark visitor gets a dark page, the light one a light page.
        var lightBg = await alice.Page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
        var darkBg = await bob.Page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
        Assert.NotEqual(lightBg, darkBg);
        Assert.True(Luminance(darkBg) < 0.2, $"dark background {darkBg}");
        Assert.True(Luminance(lightBg) > 0.8, $"light background {lightBg}");
        await alice.ScreenshotAsync("10-mobile-light");
        await bob.ScreenshotAsync("11-mobile-dark");
    }

    [Fact]
    public async Task Controls_are_labelled_and_incoming_messages_are_announced()
    {
        await using var server = await BrowserServer.StartAsync();
        var (alice, bob) = await MatchAsync(server);
        await using var a = alice;
        await using var b = bob;

        await Expect(alice.Page.GetByLabel("Message", new() { Exact = true })).ToBeVisibleAsync();
        await Expect(alice.Page.GetByRole(AriaRole.Button, new() { Name = "Send" })).ToBeVisibleAsync();
        await Expect(alice.Page.GetByRole(AriaRole.Button, new() { Name = "New stranger" })).ToBeVisibleAsync();
        await Expect(alice.Page.GetByRole(AriaRole.Button, new() { Name = "End chat" })).ToBeVisibleAsync();
        await Expect(alice.Page.Locator("#announcer")).ToHaveAttributeAsync("aria-live", "polite");

        await bob.SayAsync("can you hear me");
        await alice.ExpectToReceiveAsync("can you hear me");
        await Expect(alice.Page.Locator("#announcer")).ToContainTextAsync("Bob: can you hear me");
    }

    private async Task<(Visitor Alice, Visitor Bob)> MatchAsync(ChatServer server)
    {
        var alice = await Visitor.OpenAsync(browser, server, "Alice");
        var bob = await Visitor.OpenAsync(browser, server, "Bob");
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync("Alice");
        return (alice, bob);
    }

    private static async Task AssertNoHorizontalScrollAsync(Visitor visitor)
    {
        var (scrollWidth, clientWidth) = await visitor.DocumentWidthAsync();
        Assert.True(scrollWidth <= clientWidth, $"{visitor.NickName}: scrollWidth {scrollWidth} > clientWidth {clientWidth}");
    }

    private static double Luminance(string cssRgb)
    {
        var parts = cssRgb[(cssRgb.IndexOf('(', StringComparison.Ordinal) + 1)..cssRgb.IndexOf(')', StringComparison.Ordinal)]
            .Split(',', StringSplitOptions.TrimEntries);
        var rgb = parts.Take(3).Select(p => double.Parse(p, System.Globalization.CultureInfo.InvariantCulture) / 255).ToArray();
        return (0.2126 * rgb[0]) + (0.7152 * rgb[1]) + (0.0722 * rgb[2]);
    }
}
