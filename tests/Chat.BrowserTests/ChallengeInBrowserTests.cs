using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// The bot challenge as a visitor meets it: the page solves it in its own worker, under the page's
/// strict Content-Security-Policy, shows that it is checking the browser while it works, and goes on
/// to chat; the checking state passes axe's WCAG 2.1 AA rules like every other view.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class ChallengeInBrowserTests(BrowserFixture browser)
{
    /// <summary>Every new account must solve one, at the shipped difficulty.</summary>
    private static readonly string[] AlwaysChallenge = ["Chat:Limits:Challenge:Always=true", "Chat:Limits:Challenge:MaxNumber=100000"];

    [GeneratedRegex("/ws$")]
    private static partial Regex SocketUrl();

    [Fact]
    public async Task The_page_solves_the_challenge_in_its_worker_under_its_own_policy_then_chats()
    {
        await using var server = await BrowserServer.StartAsync(AlwaysChallenge);
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        var aliceFrames = Record(alice);

        await alice.EnterAsync();
        await Expect(alice.Page.Locator("#waiting-title")).ToHaveTextAsync("Looking for a stranger…", new() { Timeout = 60_000 });
        await alice.AccountIdAsync();
        await bob.EnterAsync();
        await bob.ExpectChattingWithAsync("Alice");
        await alice.ExpectChattingWithAsync("Bob");
        await alice.SayAsync("made it past the check");
        await bob.ExpectToReceiveAsync("made it past the check");

        // What went over Alice's socket: refused with a challenge, asked again with its solution, accepted.
        var frames = aliceFrames.Snapshot();
        Assert.Contains(frames, f => f.Received && f.Text.Contains("\"cmd\":\"CRT_ACCOUNT_RESP\",\"code\":6", StringComparison.Ordinal) && f.Text.Contains("\"maxnumber\":100000", StringComparison.Ordinal));
        Assert.Contains(frames, f => !f.Received && f.Text.Contains("\"altcha\":\"", StringComparison.Ordinal));
        Assert.Contains(frames, f => f.Received && f.Text.Contains("\"cmd\":\"CRT_ACCOUNT_RESP\",\"code\":0", StringComparison.Ordinal));

        // The worker ran under script-src 'self': no policy violation, no script error, no dialog.
        Assert.Empty(alice.PageErrors);
        Assert.Empty(alice.Dialogs);
        var index = await alice.Page.APIRequest.GetAsync("/");
        Assert.Equal(Chat.Host.Hosting.SecurityHeaders.ContentSecurityPolicy, index.Headers["content-security-policy"]);
    }

    [Theory]
    [InlineData(375, ColorScheme.Light)]
    [InlineData(1280, ColorScheme.Dark)]
    public async Task The_checking_state_says_so_to_everyone_and_has_no_WCAG_21_AA_violation(int width, ColorScheme scheme)
    {
        await using var server = await BrowserServer.StartAsync(AlwaysChallenge);
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice", width, width < 600 ? 700 : 800, scheme, bypassCsp: true);

        // The page's answer is held on its way to the server, so the check lasts as long as the scan.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await alice.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            var toServer = page.ConnectToServer();
            page.OnMessage(async frame =>
            {
                if (frame.Text!.Contains("\"altcha\"", StringComparison.Ordinal))
                {
                    await release.Task;
                }

                toServer.Send(frame.Text!);
            });
            toServer.OnMessage(frame => page.Send(frame.Text!));
        });

        await alice.EnterAsync();
        await Expect(alice.Page.Locator("#waiting-title")).ToHaveTextAsync("Checking your browser…");
        var note = alice.Page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Checking your browser" });
        await Expect(note).ToBeVisibleAsync();
        await Expect(alice.Page.Locator("#view-waiting")).ToHaveAttributeAsync("aria-busy", "true");
        await AxeScan.ExpectNoViolationsAsync(alice.Page, $"checking your browser ({width} px, {scheme})", "#waiting-title", "#check-note");
        await alice.ScreenshotAsync($"checking-{width}-{scheme.ToString().ToLowerInvariant()}");

        release.SetResult();
        await alice.ExpectWaitingAsync();
        await Expect(note).ToBeHiddenAsync();
        await Expect(alice.Page.Locator("#view-waiting")).ToHaveAttributeAsync("aria-busy", "false");
    }

    /// <summary>Every text frame of the visitor's socket, both ways.</summary>
    private static SocketFrames Record(Visitor visitor)
    {
        var frames = new SocketFrames();
        visitor.Page.WebSocket += (_, socket) =>
        {
            socket.FrameReceived += (_, frame) => frames.Add(true, frame.Text ?? string.Empty);
            socket.FrameSent += (_, frame) => frames.Add(false, frame.Text ?? string.Empty);
        };
        return frames;
    }

    private sealed class SocketFrames
    {
        private readonly List<(bool Received, string Text)> _frames = [];

        public void Add(bool received, string text)
        {
            lock (_frames)
            {
                _frames.Add((received, text));
            }
        }

        public IReadOnlyList<(bool Received, string Text)> Snapshot()
        {
            lock (_frames)
            {
                return [.. _frames];
            }
        }
    }
}
