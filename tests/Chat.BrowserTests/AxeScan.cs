using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace Chat.BrowserTests;

/// <summary>
/// Runs axe-core (vendored in axe/, see axe/README.md) over a page with the WCAG 2.1 A and AA
/// rules, and fails naming each violated rule and the elements that break it (a rule axe could not
/// decide, "needs review", fails the same way: none is expected). The page must be
/// in a context that bypasses CSP: axe is injected as an inline script, which the page's own
/// <c>script-src 'self'</c> would refuse.
/// </summary>
internal static class AxeScan
{
    private static readonly string ScriptPath = Path.Combine(AppContext.BaseDirectory, "axe", "axe.min.js");

    private static readonly string[] Tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

    private const string Run =
        """
        async ({ tags, mustCheck }) => {
          const results = await axe.run(document, {
            runOnly: { type: 'tag', values: tags },
            // Measure ticks (✓, ✓✓, …) and one-digit badges too: by default axe skips them as "needs review".
            checks: { 'color-contrast': { options: { ignoreUnicode: false, ignoreLength: true } } },
            elementRef: true,
          });
          const all = [...results.passes, ...results.violations, ...results.incomplete, ...results.inapplicable];
          const contrastChecked = new Set([...results.passes, ...results.violations]
            .filter(r => r.id === 'color-contrast')
            .flatMap(r => r.nodes.map(n => n.element)));
          const describe = r => ({
            id: r.id,
            impact: r.impact ?? '',
            help: r.help,
            nodes: r.nodes.map(n => ({
              target: n.target.map(t => [].concat(t).join(' >>> ')).join(' '),
              html: n.html,
              summary: n.failureSummary ?? '',
            })),
          });
          return {
            rules: all.map(r => r.id),
            violations: results.violations.map(describe),
            incomplete: results.incomplete.map(describe),
            unmeasured: mustCheck.filter(s => ![...document.querySelectorAll(s)].some(e => contrastChecked.has(e))),
          };
        }
        """;

    /// <summary>
    /// Scans the page as it is now. <paramref name="mustCheck"/> are selectors of texts the view is
    /// about (a tick, a notice, the banner): axe must have measured the contrast of at least one
    /// element matching each, so a scan cannot pass because the state was gone before it ran.
    /// </summary>
    public static async Task ExpectNoViolationsAsync(IPage page, string view, params string[] mustCheck)
    {
        if (!await page.EvaluateAsync<bool>("() => typeof window.axe?.run === 'function'"))
        {
            await page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = ScriptPath });
        }

        var result = await page.EvaluateAsync<JsonElement>(Run, new { tags = Tags, mustCheck });

        var rules = result.GetProperty("rules").EnumerateArray().Select(r => r.GetString()).ToHashSet();
        Assert.True(rules.Contains("color-contrast"), $"{view}: axe did not run color-contrast; tags {string.Join(", ", Tags)}");

        var unmeasured = result.GetProperty("unmeasured").EnumerateArray().Select(s => s.GetString()).ToList();
        Assert.True(unmeasured.Count == 0, $"{view}: axe measured no contrast for {string.Join(", ", unmeasured)} (not on the page, or hidden)");

        var violations = result.GetProperty("violations");
        var incomplete = result.GetProperty("incomplete");
        if (violations.GetArrayLength() == 0 && incomplete.GetArrayLength() == 0)
        {
            return;
        }

        var report = new StringBuilder();
        Describe(report, violations, $"axe (WCAG 2.1 A/AA) found {violations.GetArrayLength()} violated rule(s) in {view}:");
        Describe(report, incomplete, $"axe could not decide {incomplete.GetArrayLength()} rule(s) in {view} (needs review, counted as failing):");
        Assert.Fail(report.ToString());
    }

    private static void Describe(StringBuilder report, JsonElement rules, string heading)
    {
        if (rules.GetArrayLength() == 0)
        {
            return;
        }

        report.AppendLine(heading);
        foreach (var rule in rules.EnumerateArray())
        {
            report.Append("- ").Append(rule.GetProperty("id").GetString())
                .Append(" (").Append(rule.GetProperty("impact").GetString()).Append("): ")
                .AppendLine(rule.GetProperty("help").GetString());
            foreach (var node in rule.GetProperty("nodes").EnumerateArray())
            {
                report.Append("    at ").AppendLine(node.GetProperty("target").GetString());
                report.Append("       ").AppendLine(node.GetProperty("html").GetString());
                foreach (var line in node.GetProperty("summary").GetString()!.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    report.Append("       ").AppendLine(line);
                }
            }
        }
    }
}
