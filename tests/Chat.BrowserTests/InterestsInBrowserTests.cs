using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// Issue 22 in the browser: interests as chips on the start screen (Enter adds one, its button
/// removes it, a reload keeps them), the language choice, the waiting screen's "Looking for someone
/// who likes …" and "nobody shares your interests yet", and "You both like: …" on both sides of the chat.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class InterestsInBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task Two_visitors_who_share_an_interest_are_paired_and_both_see_it_and_chips_survive_a_reload()
    {
        await using var server = await BrowserServer.StartAsync();
        await using var alice = await Visitor.OpenAsync(browser, server, "Alice", bypassCsp: true);
        await using var bob = await Visitor.OpenAsync(browser, server, "Bob");
        var interest = alice.Page.Locator("#interest-input");
        var chips = alice.Page.Locator("#interest-chips .chip-name");

        // The language follows the browser's (en-GB: English); interests are added with Enter, folded as the server folds them.
        await Expect(alice.Page.Locator("#lang")).ToHaveValueAsync("en");
        foreach (var typed in new[] { "  Jazz ", "chess", "JAZZ", "tennis" })
        {
            await interest.FillAsync(typed);
            await interest.PressAsync("Enter");
            await Expect(interest).ToHaveValueAsync(string.Empty);
        }

        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-view", "start"); // Enter with text added a chip, it did not start
        await Expect(chips).ToHaveTextAsync(["jazz", "chess", "tennis"]);

        // By keyboard alone: back from the field to the last chip's button, Enter removes it, focus stays on a chip.
        await interest.FocusAsync();
        await alice.Page.Keyboard.PressAsync("Shift+Tab");
        await Expect(alice.Page.Locator("#interest-chips button").Last).ToBeFocusedAsync();
        await Expect(alice.Page.Locator("#interest-chips button").Last).ToHaveAccessibleNameAsync("Remove tennis");
        await alice.Page.Keyboard.PressAsync("Enter");
        await Expect(chips).ToHaveTextAsync(["jazz", "chess"]);
        await Expect(alice.Page.Locator("#interest-chips button").Last).ToBeFocusedAsync();
        await AxeScan.ExpectNoViolationsAsync(alice.Page, "start with interests", "#interest-hint", "#interest-chips .chip-name");

        // A reload of the tab keeps them.
        await alice.Page.ReloadAsync();
        await Expect(alice.Page.Locator("#view-start")).ToBeVisibleAsync();
        await Expect(chips).ToHaveTextAsync(["jazz", "chess"]);

        // Waiting: whom Alice looks for, then, once the fallback delay is over with nobody there, that nobody shares them.
        await alice.EnterAsync();
        var note = alice.Page.Locator("#wish-note");
        await Expect(note).ToHaveTextAsync("Looking for someone who likes jazz, chess; anyone after 5 s");
        await AxeScan.ExpectNoViolationsAsync(alice.Page, "waiting with interests", "#wish-note");
        await Expect(note).ToHaveTextAsync("Nobody shares your interests yet; looking for anyone.", new() { Timeout = 20_000 });

        // Bob likes chess and cooking: paired with Alice on chess, and both see it at the top of the chat.
        foreach (var typed in new[] { "Cooking", "chess" })
        {
            await bob.Page.Locator("#interest-input").FillAsync(typed);
            await bob.Page.Locator("#interest-input").PressAsync("Enter");
        }

        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync("Alice");
        await Expect(alice.Notices.First).ToHaveTextAsync("You both like: chess");
        await Expect(bob.Notices.First).ToHaveTextAsync("You both like: chess");
        await AxeScan.ExpectNoViolationsAsync(alice.Page, "chat with shared interests", ".notice[data-kind=common]");
        Assert.Empty(alice.PageErrors);
        Assert.Empty(bob.PageErrors);
    }
}
