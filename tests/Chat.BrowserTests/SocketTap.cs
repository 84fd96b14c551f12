using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Chat.BrowserTests;

/// <summary>
/// A page's socket run through the test: every frame goes on unchanged both ways, the test may
/// push a frame to the page as the server would (a second conversation, with Dora), and may watch
/// what the page sends. Each new socket of the page (after a drop) is tapped the same way.
/// </summary>
internal sealed partial class SocketTap
{
    /// <summary>A conversation the server never made, for pushing to a page: ids above 2^53, which the page must keep exact.</summary>
    public const string DoraSession = "9007199254740993123";
    public const string DoraAccount = "9007199254740995001";

    private IWebSocketRoute? _current;

    private SocketTap()
    {
    }

    /// <summary>Taps <paramref name="page"/>'s sockets from now on; <paramref name="sent"/> sees each frame the page sends.</summary>
    public static async Task<SocketTap> OpenAsync(IPage page, Action<string>? sent = null)
    {
        var tap = new SocketTap();
        await page.RouteWebSocketAsync(SocketUrl(), route =>
        {
            Volatile.Write(ref tap._current, route);
            var toServer = route.ConnectToServer();
            route.OnMessage(frame =>
            {
                sent?.Invoke(frame.Text!);
                toServer.Send(frame.Text!);
            });
            toServer.OnMessage(frame => route.Send(frame.Text!));
        });
        return tap;
    }

    /// <summary>Pushes a frame to the page on its current socket, as if the server had sent it.</summary>
    public void Push(string frame) => (Volatile.Read(ref _current) ?? throw new InvalidOperationException("the page has opened no socket yet")).Send(frame);

    /// <summary>Dora matched with <paramref name="accountId"/>: a NewSession signal for her conversation.</summary>
    public void PushDoraMatched(ulong accountId) =>
        Push($$$"""{"cmd":"PUSH_SIGNAL_REQ","senderId":0,"sessionId":{{{DoraSession}}},"receiverId":{{{accountId}}},"signalType":"NewSession","data":{"accountId":{{{DoraAccount}}},"nickName":"Dora"}}""");

    /// <summary>A message from Dora in her conversation.</summary>
    public void PushFromDora(ulong msgId, string content) =>
        Push($$"""{"cmd":"PUSH_DIALOGUE_REQ","msgId":{{msgId}},"senderId":{{DoraAccount}},"sessionId":{{DoraSession}},"content":"{{content}}","sentAt":1764100000000}""");

    /// <summary>Dora left (PartnerExit for her conversation).</summary>
    public void PushDoraLeft(ulong accountId) =>
        Push($$$"""{"cmd":"PUSH_SIGNAL_REQ","senderId":0,"sessionId":{{{DoraSession}}},"receiverId":{{{accountId}}},"signalType":"PartnerExit","data":{"accountId":{{{DoraAccount}}}}}""");

    [GeneratedRegex("/ws$")]
    private static partial Regex SocketUrl();
}
