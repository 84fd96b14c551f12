using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// A message the server's filter refuses: the page shows the server's reason beside it, marks it not
/// delivered and does not send it again; the partner never sees it; the view stays axe-clean.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class FilterInBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task A_refused_message_shows_the_servers_reason_beside_it_and_never_reaches_the_partner()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob", bypassCsp: true);
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await bob.ExpectChattingWithAsync("Alice");

        await bob.SayAsync("hi, add me on snap: hotbob99");
        var refused = bob.OwnMessages.First; // a locator: .First stays this message once more come
        await Expect(refused).ToHaveAttributeAsync("data-status", "failed");
        await Expect(refused.Locator(".problem")).ToHaveTextAsync(
            "Not sent: links, e-mail addresses and contact handles are allowed only after your first 3 messages in a chat.");

        // A message after it arrives; the refused one never did, and was not sent again.
        await bob.SayAsync("hello Alice");
        await alice.ExpectToReceiveAsync("hello Alice");
        await Expect(alice.PartnerMessages).ToHaveCountAsync(1);
        await Expect(refused).ToHaveAttributeAsync("data-status", "failed");

        await AxeScan.ExpectNoViolationsAsync(bob.Page, "a refused message (Bob)", ".msg.own .problem");
        await bob.ScreenshotAsync("filter-refused-message");
    }
}
