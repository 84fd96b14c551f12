using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// More than one conversation at once shows as tabs. Our server only pairs waiting visitors,
/// so a second session is injected as the server would push it (a NewSession signal, then a
/// message) into a live page through a WebSocket route; the real chat with Bob goes on beside it.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class TabsTests(BrowserFixture browser)
{
    // Above 2^53: the page must keep 64-bit ids exact, not round them through a double.
    private const string DoraSession = "9007199254740993123";
    private const string DoraAccount = "9007199254740995001";

    [GeneratedRegex("/ws$")]
    private static partial Regex SocketUrl();

    [Fact]
    public async Task A_new_session_signal_opens_a_second_tab_with_its_own_unread_count()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        IWebSocketRoute? alicePage = null;
        await alice.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            Volatile.Write(ref alicePage, page);
            var toServer = page.ConnectToServer();
            page.OnMessage(frame => toServer.Send(frame.Text!));
            toServer.OnMessage(frame => page.Send(frame.Text!));
        });
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await Expect(alice.Page.Locator("#tabs")).ToBeHiddenAsync();
        var aliceId = await alice.AccountIdAsync();

        var route = Volatile.Read(ref alicePage)!;
        route.Send($$$"""{"cmd":"PUSH_SIGNAL_REQ","senderId":0,"sessionId":{{{DoraSession}}},"receiverId":{{{aliceId}}},"signalType":"NewSession","data":{"accountId":{{{DoraAccount}}},"nickName":"Dora"}}""");
        var tabs = alice.Page.GetByRole(AriaRole.Tab);
        await Expect(tabs).ToHaveCountAsync(2);
        await Expect(tabs.Nth(0)).ToHaveTextAsync("Bob");
        await Expect(tabs.Nth(0)).ToHaveAttributeAsync("aria-selected", "true");
        await Expect(tabs.Nth(1)).ToHaveAttributeAsync("data-session-id", DoraSession);
        // The new conversation does not pull Alice away from the one she is in.
        await Expect(alice.PartnerTitle).ToHaveTextAsync("Bob");

        route.Send($$"""{"cmd":"PUSH_DIALOGUE_REQ","msgId":7,"senderId":{{DoraAccount}},"sessionId":{{DoraSession}},"content":"hi, Dora here","sentAt":1764100000000}""");
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
