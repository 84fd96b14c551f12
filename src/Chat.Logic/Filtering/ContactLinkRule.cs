using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Filtering;

/// <summary>
/// No links, e-mail addresses or contact handles ("snap: …", "tg: …", "@name on insta") in a sender's
/// first <see cref="LinkRuleOptions.FirstMessages"/> messages of a chat: pushing a stranger off to
/// another app or site at once is what spam bots on such services are for, and people who have
/// talked a little can still swap them. Later messages cost nothing (no scan).
/// </summary>
internal sealed partial class ContactLinkRule(IOptions<FilterOptions> options) : IMessageFilter
{
    public const string FilterName = "links";

    private readonly int _first = options.Value.Links.FirstMessages;
    private readonly FilterVerdict _refusal = FilterVerdict.Refuse(options.Value.Links.Message.Replace("{0}", options.Value.Links.FirstMessages.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

    public string Name => FilterName;

    public ValueTask<FilterVerdict> CheckAsync(FilteredMessage message, CancellationToken cancellationToken) =>
        new(message.SenderMessages < _first && Contains(message.Content) ? _refusal : FilterVerdict.Pass);

    /// <summary>Whether the text carries a link, an e-mail address or a contact handle.</summary>
    public static bool Contains(string content)
    {
        var text = content.IsNormalized(NormalizationForm.FormKC) ? content : content.Normalize(NormalizationForm.FormKC);
        return Links().IsMatch(text) || Handles().IsMatch(text);
    }

    // A scheme, www., a name under a common top-level domain (also "name dot com"), or an e-mail address.
    [GeneratedRegex("""
        (?:\b(?:https?|ftp)://|\bwww\.)\S
        | \b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.|\s*[(\[]\s*dot\s*[)\]]\s*|\s+dot\s+)(?:com|net|org|io|me|co|app|ly|gg|xyz|info|biz|ru|de|uk|link|site|online|club|live|tv|to|cc|page|dev|ai|chat|fun|top|vip|shop|store)\b
        | [a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}
        """, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex Links();

    // "snap: name", "tg=@name", "@name on insta", "add me on kik", "my snap is name".
    [GeneratedRegex("""
        \b(?:snap(?:chat)?|sc|insta(?:gram)?|ig|tg|telegram|kik|whats?app|discord|skype|wechat|viber|threema|onlyfans|tiktok|fb|facebook|twitter)\s*[:=]\s*@?[\w.-]{2,}
        | @[\w.]{2,}\s+(?:on|at|in|via)\s+(?:the\s+)?(?:snap(?:chat)?|sc|insta(?:gram)?|ig|tg|telegram|kik|whats?app|discord|skype|wechat|viber|threema|onlyfans|tiktok|fb|facebook|twitter|x)\b
        | \b(?:add|find|text|message|dm|follow|hit)\s+me\s+(?:up\s+)?(?:on|at|in|via)\s+(?:snap(?:chat)?|sc|insta(?:gram)?|ig|tg|telegram|kik|whats?app|discord|skype|wechat|viber|threema|onlyfans|tiktok)\b
        | \bmy\s+(?:snap(?:chat)?|sc|insta(?:gram)?|ig|tg|telegram|kik|whats?app|discord|skype|wechat|viber|threema|onlyfans|tiktok)\s+(?:is|=|:)\s*@?[\w.-]{2,}
        """, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex Handles();
}
