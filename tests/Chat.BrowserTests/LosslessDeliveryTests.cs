using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// Issue 4, the client half: every push is acknowledged, a repeated push is shown once, and a
/// message whose acknowledgement was lost is sent again with its original requestId after a
/// reconnect, so the partner gets it exactly once. The page's socket runs through a Playwright
/// WebSocket route that can lose or repeat frames, as a flaky network would.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class LosslessDeliveryTests(BrowserFixture browser)
{
    [GeneratedRegex("/ws$")]
    private static partial Regex SocketUrl();

    [Fact]
    public async Task Message_whose_ack_was_lost_is_resent_with_its_requestId_and_arrives_once()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");

        var loseAcks = 1; // 1: DIALOGUE_RESP frames from the server never reach Alice's page
        var requestIds = new ConcurrentQueue<string>();
        await alice.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            var toServer = page.ConnectToServer();
            page.OnMessage(frame =>
            {
                var json = Parse(frame.Text);
                if (Cmd(json) == "DIALOGUE_REQ")
                {
                    requestIds.Enqueue(json.GetProperty("requestId").GetString()!);
                }

                toServer.Send(frame.Text!);
            });
            toServer.OnMessage(frame =>
            {
                if (Volatile.Read(ref loseAcks) == 1 && Cmd(Parse(frame.Text)) == "DIALOGUE_RESP")
                {
                    return;
                }

                page.Send(frame.Text!);
            });
        });

        await MatchAsync(alice, bob);

        await alice.SayAsync("stored once, shown once");
        await bob.ExpectToReceiveAsync("stored once, shown once");
        // Alice never heard back: her message is still "sending", kept for a retry.
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "sending");

        Volatile.Write(ref loseAcks, 0);
        await alice.DropSocketAsync();
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });

        // The resend got the server's answer: the message is acknowledged now.
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", new Regex("^(sent|read)$"));
        Assert.Equal(2, requestIds.Count);
        Assert.Single(requestIds.Distinct());

        // A later message in the same session arrives after any duplicate would have: there is none.
        await alice.SayAsync("and the next one");
        await bob.ExpectToReceiveAsync("and the next one");
        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(["stored once, shown once", "and the next one"]);
        await Expect(alice.OwnMessages).ToHaveCountAsync(2);
    }

    [Fact]
    public async Task Repeated_push_is_shown_once_and_every_push_and_ping_is_answered()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");

        var pushedMsgIds = new ConcurrentQueue<ulong>();
        var ackedMsgIds = new ConcurrentQueue<ulong>();
        var pingAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await bob.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            var toServer = page.ConnectToServer();
            page.OnMessage(frame =>
            {
                var json = Parse(frame.Text);
                switch (Cmd(json))
                {
                    case "PUSH_DIALOGUE_RESP" when json.GetProperty("code").GetInt32() == 0 && json.TryGetProperty("sessionId", out _):
                        ackedMsgIds.Enqueue(json.GetProperty("msgId").GetUInt64());
                        break;
                    case "PING_RESP":
                        pingAnswered.TrySetResult();
                        break;
                }

                toServer.Send(frame.Text!);
            });
            toServer.OnMessage(frame =>
            {
                page.Send(frame.Text!);
                var json = Parse(frame.Text);
                if (Cmd(json) == "PUSH_DIALOGUE_REQ")
                {
                    // The network (or a retrying server) delivers the same push twice.
                    pushedMsgIds.Enqueue(json.GetProperty("msgId").GetUInt64());
                    page.Send(frame.Text!);
                }
            });
        });

        await MatchAsync(alice, bob);
        await alice.SayAsync("only once please");
        await bob.ExpectToReceiveAsync("only once please");
        await alice.SayAsync("me too");
        await bob.ExpectToReceiveAsync("me too");

        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(["only once please", "me too"]);
        // Each copy of each push was acknowledged with its msgId.
        await WaitUntilAsync(() => ackedMsgIds.Count >= 4, "Bob acknowledged both copies of both pushes");
        Assert.Equal(pushedMsgIds.Order().SelectMany(id => new[] { id, id }), ackedMsgIds.Order());

        // The server pings every few seconds; the page answers.
        await pingAnswered.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Push_lost_on_the_way_arrives_after_the_reconnect_exactly_once()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");

        var losePushes = 0; // 1: PUSH_DIALOGUE_REQ frames never reach Bob's page
        await bob.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            var toServer = page.ConnectToServer();
            page.OnMessage(frame => toServer.Send(frame.Text!));
            toServer.OnMessage(frame =>
            {
                if (Volatile.Read(ref losePushes) == 1 && Cmd(Parse(frame.Text)) == "PUSH_DIALOGUE_REQ")
                {
                    return;
                }

                page.Send(frame.Text!);
            });
        });

        await MatchAsync(alice, bob);
        await alice.SayAsync("first, arrives");
        await bob.ExpectToReceiveAsync("first, arrives");

        Volatile.Write(ref losePushes, 1);
        await alice.SayAsync("second, lost on the way");
        // Stored by the server (one tick), but Bob's page never got it, so it never said so.
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "sent");
        await Expect(bob.PartnerMessages).ToHaveCountAsync(1);

        Volatile.Write(ref losePushes, 0);
        await bob.DropSocketAsync();
        await Expect(bob.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });

        // The server pushes again what Bob did not confirm; Bob shows each message once.
        await bob.ExpectToReceiveAsync("second, lost on the way");
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "read");
        await alice.SayAsync("third");
        await bob.ExpectToReceiveAsync("third");
        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(["first, arrives", "second, lost on the way", "third"]);
    }

    [Fact]
    public async Task A_read_receipt_lost_on_the_way_shows_two_ticks_after_the_reconnect()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");

        var loseReceipts = 1; // 1: PUSH_VIEWED_ACK_REQ frames never reach Alice's page
        await alice.Page.RouteWebSocketAsync(SocketUrl(), page =>
        {
            var toServer = page.ConnectToServer();
            page.OnMessage(frame => toServer.Send(frame.Text!));
            toServer.OnMessage(frame =>
            {
                if (Volatile.Read(ref loseReceipts) == 1 && Cmd(Parse(frame.Text)) == "PUSH_VIEWED_ACK_REQ")
                {
                    return;
                }

                page.Send(frame.Text!);
            });
        });

        await MatchAsync(alice, bob);
        await alice.SayAsync("read while the receipt was lost");
        await bob.ExpectToReceiveAsync("read while the receipt was lost");
        // Bob's page, open and visible, has read it; Alice's page never heard: one tick.
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "sent");
        await Expect(alice.OwnMessages.Last.Locator(".status")).ToHaveTextAsync("✓");

        Volatile.Write(ref loseReceipts, 0);
        await alice.DropSocketAsync();
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", "1", new() { Timeout = 30_000 });

        // RECONNECT_RESP says how far Bob has read: two ticks where they belong.
        await Expect(alice.OwnMessages.Last).ToHaveAttributeAsync("data-status", "read");
        await Expect(alice.OwnMessages.Last.Locator(".status")).ToHaveTextAsync("✓✓");
    }

    private static async Task MatchAsync(Visitor alice, Visitor bob)
    {
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync(bob.NickName);
        await bob.ExpectChattingWithAsync(alice.NickName);
    }

    private static JsonElement Parse(string? text)
    {
        using var doc = JsonDocument.Parse(text ?? "{}");
        return doc.RootElement.Clone();
    }

    private static string? Cmd(JsonElement json) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty("cmd", out var cmd) ? cmd.GetString() : null;

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        while (!condition())
        {
            try
            {
                await timer.WaitForNextTickAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail("Timed out waiting until " + what);
            }
        }
    }
}
