using System.Globalization;
using System.Text;

namespace Chat.Logic.Filtering;

/// <summary>
/// The text the filters match on: what a reader sees, not how it is spelled. Invisible characters
/// (zero-width spaces and joiners, soft hyphens, direction marks) and combining marks are dropped,
/// full-width forms and the mathematical and circled letters and digits (𝐬𝐧𝐚𝐩, ｓｎａｐ, ⓢⓝⓐⓟ) become
/// their plain ASCII ones, then Unicode compatibility form (NFKC) where the runtime has it: the
/// service runs in invariant globalization mode, in which <see cref="string.Normalize()"/> changes
/// nothing, so the forms spammers use are folded here. Plain ASCII text is returned as it is.
/// </summary>
internal static class FoldedText
{
    public static string Of(string content)
    {
        if (System.Text.Ascii.IsValid(content))
        {
            return content;
        }

        var folded = new StringBuilder(content.Length);
        foreach (var rune in content.EnumerateRunes())
        {
            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.Format or UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark:
                    continue; // invisible, or drawn over the letter before it
            }

            if (Plain(rune.Value) is { } plain)
            {
                folded.Append(plain);
            }
            else
            {
                folded.Append(rune.ToString());
            }
        }

        var text = folded.ToString();
        return text.IsNormalized(NormalizationForm.FormKC) ? text : text.Normalize(NormalizationForm.FormKC);
    }

    /// <summary>The ASCII character a look-alike form stands for, or null.</summary>
    private static char? Plain(int value) => value switch
    {
        >= 0xFF01 and <= 0xFF5E => (char)(value - 0xFF01 + '!'), // full-width ASCII
        0x3000 => ' ', // ideographic space
        >= 0x1D400 and <= 0x1D6A3 => Letter((value - 0x1D400) % 52), // 13 mathematical alphabets of A-Z a-z
        >= 0x1D7CE and <= 0x1D7FF => (char)('0' + ((value - 0x1D7CE) % 10)), // 5 mathematical sets of digits
        >= 0x24B6 and <= 0x24CF => (char)('A' + value - 0x24B6), // circled capitals
        >= 0x24D0 and <= 0x24E9 => (char)('a' + value - 0x24D0), // circled small letters
        >= 0x1F130 and <= 0x1F149 => (char)('A' + value - 0x1F130), // squared capitals
        >= 0x1F150 and <= 0x1F169 => (char)('A' + value - 0x1F150), // negative circled capitals
        >= 0x1F170 and <= 0x1F189 => (char)('A' + value - 0x1F170), // negative squared capitals
        >= 0x1F1E6 and <= 0x1F1FF => (char)('A' + value - 0x1F1E6), // regional indicators
        _ => null,
    };

    private static char Letter(int index) => index < 26 ? (char)('A' + index) : (char)('a' + index - 26);
}
