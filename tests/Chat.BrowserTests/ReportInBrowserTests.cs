using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Chat.Logic.Moderation;
using Chat.Testing.Network;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// Reporting in Chromium: a report made in one browser (the reason chosen in an accessible dialog)
/// ends the chat, shows up in the operator API with its evidence, and a ban made from it there closes
/// the reported visitor's socket, whose page then says why, until when, and the reference.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ReportInBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task A_report_reaches_the_operator_and_a_ban_made_from_it_closes_the_reported_page_which_says_why()
    {
        var (token, line) = OperatorOptions.NewToken("ops");
        var port = LoopbackPort.ForListening();
        await using var server = await BrowserServer.StartAsync($"Chat:Operator:Url=http://127.0.0.1:{port}", $"Chat:Operator:Tokens:ops={line[(line.IndexOf('=') + 1)..]}");
        await using var troll = await Visitor.OpenAsync(browser, server, "Troll");
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        await troll.EnterAsync();
        await troll.ExpectWaitingAsync();
        await bob.EnterAsync();
        await bob.ExpectChattingWithAsync("Troll");
        await troll.ExpectChattingWithAsync("Bob");
        await troll.SayAsync("send me your number");
        await bob.ExpectToReceiveAsync("send me your number");

        await bob.Page.GetByRole(AriaRole.Button, new() { Name = "Report" }).ClickAsync();
        var dialog = bob.Page.GetByRole(AriaRole.Dialog, new() { Name = "Report this stranger" });
        await Expect(dialog).ToBeVisibleAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Report and leave" }).ClickAsync();
        await Expect(bob.Page.Locator("#report-error")).ToBeVisibleAsync(); // a reason must be chosen
        await dialog.GetByRole(AriaRole.Radio, new() { Name = "Harassment or threats" }).CheckAsync();
        await dialog.GetByLabel("Anything to add (optional)").FillAsync("asked for my phone number");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Report and leave" }).ClickAsync();
        await Expect(dialog).ToBeHiddenAsync();
        await Expect(troll.Notices.Last).ToContainTextAsync("left");

        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        await Expect(bob.Page.Locator("#announcer")).ToContainTextAsync("your report was sent"); // REPORT_RESP code 0
        var report = JsonDocument.Parse(await api.GetStringAsync("/api/reports")).RootElement[0];
        Assert.Equal("harassment", report.GetProperty("reason").GetString());
        Assert.Equal("asked for my phone number", report.GetProperty("note").GetString());
        Assert.Equal("send me your number", report.GetProperty("evidence")[0].GetProperty("content").GetString());

        var made = await api.PostAsJsonAsync("/api/bans", new { target = "account", report = report.GetProperty("id").GetString(), minutes = 60, reason = "harassing other visitors" });
        Assert.Equal(System.Net.HttpStatusCode.Created, made.StatusCode);
        var reference = JsonDocument.Parse(await made.Content.ReadAsStringAsync()).RootElement.GetProperty("ref").GetString()!;

        await Expect(troll.Banner).ToBeVisibleAsync();
        await Expect(troll.Banner).ToContainTextAsync("harassing other visitors");
        await Expect(troll.Banner).ToContainTextAsync(reference);
        await Expect(troll.Page.Locator("body")).ToHaveAttributeAsync("data-banned", "true");
        await troll.ScreenshotAsync("banned");
    }
}
