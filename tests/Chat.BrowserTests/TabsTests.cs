using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// More than one conversation at once shows as tabs. Our server only pairs waiting visitors,
/// so a second session is injected as the server would push it (a NewSession signal, then a
/// message) into a live page through a WebSocket route; the real chat with Bob goes on beside it.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class TabsTests(BrowserFixture browser)
{
    [Fact]
    public async Task A_new_session_signal_opens_a_second_tab_with_its_own_unread_count()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        var aliceSocket = await SocketTap.OpenAsync(alice.Page);
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await Expect(alice.Page.Locator("#tabs")).ToBeHiddenAsync();
        var aliceId = await alice.AccountIdAsync();

        aliceSocket.PushDoraMatched(aliceId);
        var tabs = alice.Page.GetByRole(AriaRole.Tab);
        await Expect(tabs).ToHaveCountAsync(2);
        await Expect(tabs.Nth(0)).ToHaveTextAsync("Bob");
        await Expect(tabs.Nth(0)).ToHaveAttributeAsync("aria-selected", "true");
        await Expect(tabs.Nth(1)).ToHaveAttributeAsync("data-session-id", SocketTap.DoraSession); // above 2^53, kept exact
        // The new conversation does not pull Alice away from the one she is in.
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Bob");

        aliceSocket.PushFromDora(7, "hi, Dora here");
        await Expect(tabs.Nth(1)).ToContainTextAsync("Dora");
        await Expect(tabs.Nth(1).Locator(".badge")).ToHaveTextAsync("1");
        await Expect(alice.PartnerMessages).ToHaveCountAsync(0);
        await alice.ScreenshotAsync("12-tabs");

        await tabs.Nth(1).ClickAsync();
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Dora");
        await alice.ExpectToReceiveAsync("hi, Dora here");
        await Expect(tabs.Nth(1).Locator(".badge")).ToHaveCountAsync(0);

        // Back to Bob: his conversation is where it was and still live.
        await tabs.Nth(0).ClickAsync();
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Bob");
        await bob.SayAsync("still here?");
        await alice.ExpectToReceiveAsync("still here?");
        await alice.SayAsync("yes");
        await bob.ExpectToReceiveAsync("yes");
    }
}
