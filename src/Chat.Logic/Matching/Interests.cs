using System.Globalization;
using System.Text;

namespace Chat.Logic.Matching;

/// <summary>
/// What a MATCH_REQ's <c>interests</c> and <c>lang</c> become: each interest trimmed, NFKC-normalised
/// and lower-cased (invariant), counted in runes as nicknames are, duplicates dropped; a language
/// cut to its primary subtag (<c>en-US</c> is <c>en</c>).
/// </summary>
internal static class Interests
{
    /// <summary>The folded, sorted, distinct interests, or the reason they are refused.</summary>
    public static bool TryFold(IReadOnlyList<string>? raw, int maxCount, int maxLength, out string[] folded, out string? refusal)
    {
        folded = [];
        refusal = null;
        if (raw is null || raw.Count == 0)
        {
            return true;
        }

        if (raw.Count > maxCount)
        {
            refusal = $"interests: at most {maxCount}";
            return false;
        }

        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var interest in raw)
        {
            if (Fold(interest, maxLength) is not { } tag)
            {
                refusal = $"interests: each must be 1-{maxLength} characters";
                return false;
            }

            set.Add(tag);
        }

        folded = [.. set];
        return true;
    }

    /// <summary>The primary subtag, lower case, of a BCP 47 tag (null: any language), or the reason it is refused.</summary>
    public static bool TryFoldLanguage(string? raw, out string? lang)
    {
        lang = null;
        var tag = raw?.Trim();
        if (string.IsNullOrEmpty(tag))
        {
            return true;
        }

        var primary = tag.Split('-', '_')[0];
        if (primary.Length is < 2 or > 8 || !primary.All(char.IsAsciiLetter))
        {
            return false;
        }

        lang = primary.ToLowerInvariant();
        return true;
    }

    /// <summary>The interests both sorted lists have, in order.</summary>
    public static string[] Common(string[] a, string[] b)
    {
        var common = new List<string>(Math.Min(a.Length, b.Length));
        Walk(a, b, common);
        return [.. common];
    }

    /// <summary>How many interests the two sorted lists share.</summary>
    public static int Shared(string[] a, string[] b) => Walk(a, b, common: null);

    /// <summary>Walks two sorted lists side by side: how many they share, each added to <paramref name="common"/> if given.</summary>
    private static int Walk(string[] a, string[] b, List<string>? common)
    {
        var shared = 0;
        for (int i = 0, j = 0; i < a.Length && j < b.Length;)
        {
            var order = string.CompareOrdinal(a[i], b[j]);
            if (order == 0)
            {
                common?.Add(a[i]);
                shared++;
                i++;
                j++;
            }
            else if (order < 0)
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        return shared;
    }

    private static string? Fold(string? raw, int maxLength)
    {
        var trimmed = raw?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            return null;
        }

        string tag;
        try
        {
            tag = trimmed.Normalize(NormalizationForm.FormKC).ToLowerInvariant().Trim();
        }
        catch (ArgumentException)
        {
            return null; // not well-formed UTF-16 (a lone surrogate)
        }

        var runes = 0;
        foreach (var rune in tag.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator || ++runes > maxLength)
            {
                return null;
            }
        }

        return runes == 0 ? null : tag;
    }
}
