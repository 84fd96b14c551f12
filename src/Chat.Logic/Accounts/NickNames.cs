using System.Text;
using System.Globalization;

namespace Chat.Logic.Accounts;

internal static class NickNames
{
    /// <summary>Trims the nickname and checks it is 1–<paramref name="maxLength"/> characters with no control characters.</summary>
    public static bool TryNormalize(string? raw, int maxLength, out string nickName)
    {
        nickName = raw?.Trim() ?? string.Empty;
        if (nickName.Length == 0)
        {
            return false;
        }

        var characters = 0;
        foreach (var rune in nickName.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                return false;
            }

            if (++characters > maxLength)
            {
                return false;
            }
        }

        return true;
    }
}
