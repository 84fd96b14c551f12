using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// The page meets the server's limits on one account as a person would want: told why no new
/// stranger comes while it is in as many chats as it may be, and waiting as long as the server
/// says when it reconnected too often, without forgetting its account.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LimitsInBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task At_the_session_cap_the_page_says_why_no_stranger_comes_and_looks_again_once_a_chat_has_ended()
    {
        await using var server = await BrowserServer.StartAsync("Chat:Logic:MaxActiveSessions=1");
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice", bypassCsp: true);
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        var aliceSocket = await SocketTap.OpenAsync(alice.Page);
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");

        // A conversation with Dora comes and ends (pushed as the server would): its tab stays, ended.
        var aliceId = await alice.AccountIdAsync();
        aliceSocket.PushDoraMatched(aliceId);
        aliceSocket.PushDoraLeft(aliceId);
        var tabs = alice.Page.GetByRole(AriaRole.Tab);
        await Expect(tabs).ToHaveCountAsync(2);

        // From Dora's ended tab Alice asks for a new stranger while still chatting with Bob: the
        // server says she may be in one chat only, and the page says so instead of waiting.
        await tabs.Nth(1).ClickAsync();
        await alice.Page.Locator("#new-stranger").ClickAsync();
        var matching = alice.Page.Locator("#matching");
        await Expect(matching).ToHaveTextAsync("you are in a chat already: end it to meet someone new");
        await Expect(matching).ToHaveAttributeAsync("data-refused", "true");
        await Expect(alice.Page.Locator("#new-stranger")).ToBeEnabledAsync();
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Bob");
        await AxeScan.ExpectNoViolationsAsync(alice.Page, "match refused (Alice)", "#matching");
        await alice.ScreenshotAsync("13-match-refused");

        // Bob leaves: there is room again, and New stranger looks for one.
        await bob.Page.Locator("#end-chat").ClickAsync();
        await Expect(alice.Notices.Last).ToHaveTextAsync("Bob left the chat.");
        await Expect(matching).ToBeHiddenAsync();
        await alice.Page.Locator("#new-stranger").ClickAsync();
        await alice.ExpectWaitingAsync();
    }

    [Fact]
    public async Task Refused_a_reconnect_the_page_waits_the_seconds_the_server_names_then_comes_back_with_its_account()
    {
        // One reconnect at once, then one per 6 s: the second drop's reconnect is refused for about 6 s.
        await using var server = await BrowserServer.StartAsync("Chat:Logic:ReconnectBurst=1", "Chat:Logic:ReconnectInterval=00:00:06");
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        var reconnects = 0;
        await SocketTap.OpenAsync(alice.Page, sent: frame =>
        {
            if (frame.Contains("\"RECONNECT_REQ\"", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref reconnects);
            }
        });
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        var aliceId = await alice.AccountIdAsync();

        await alice.DropSocketAsync();
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });
        await alice.DropSocketAsync();
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "2", new() { Timeout = 30_000 });

        // One refused, one more after the wait it named: not one every 2 s meanwhile, and no new account.
        Assert.Equal(3, Volatile.Read(ref reconnects));
        Assert.Equal(aliceId, await alice.AccountIdAsync());
        await alice.ExpectChattingWithAsync("Bob");
        await alice.SayAsync("back again");
        await bob.ExpectToReceiveAsync("back again");
    }
}
