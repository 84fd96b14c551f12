using Microsoft.Playwright;

namespace Chat.BrowserTests;

/// <summary>What a page reported going wrong: uncaught script errors and console errors (a refusal by its CSP among them).</summary>
internal static class PageErrors
{
    public static void CollectInto(IPage page, List<string> errors)
    {
        page.PageError += (_, error) =>
        {
            lock (errors)
            {
                errors.Add(error);
            }
        };
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (errors)
                {
                    errors.Add(message.Text);
                }
            }
        };
    }
}
