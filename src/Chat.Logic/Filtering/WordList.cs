using System.Text;
using System.Text.RegularExpressions;

namespace Chat.Logic.Filtering;

/// <summary>
/// The operator's list of words, phrases and patterns, compiled into one regular expression that
/// runs in time linear in the message (<see cref="RegexOptions.NonBacktracking"/>: no pattern of the
/// list can make a message cost more than a scan). The file's format (README, "Running it in public"):
/// one entry a line; <c>#</c> starts a comment line; a line <c>/…/</c> is a .NET pattern; any other
/// line is a word or phrase matched as whole words (any white space between a phrase's words).
/// All of it case-insensitive, on the text in Unicode compatibility form (NFKC), so full-width
/// and other look-alike forms of letters match their plain ones.
/// </summary>
internal sealed class WordList
{
    /// <summary>A list of no entries: passes everything.</summary>
    public static readonly WordList Empty = new(null, 0);

    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    private readonly Regex? _regex;

    private WordList(Regex? regex, int entries)
    {
        _regex = regex;
        Entries = entries;
    }

    public int Entries { get; }

    public bool Matches(string content)
    {
        if (_regex is null)
        {
            return false;
        }

        var text = content.IsNormalized(NormalizationForm.FormKC) ? content : content.Normalize(NormalizationForm.FormKC);
        try
        {
            return _regex.IsMatch(text);
        }
        catch (RegexMatchTimeoutException)
        {
            return false; // cannot happen in linear time on a message of 1000 characters; a stalled message is not refused for it
        }
    }

    /// <summary>Reads and compiles the list; returns what is wrong with it (naming the line), or null with <paramref name="list"/> set.</summary>
    public static string? TryRead(string path, out WordList list)
    {
        list = Empty;
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"'{path}' cannot be read: {ex.Message}";
        }

        return TryParse(lines, path, out list);
    }

    public static string? TryParse(IReadOnlyList<string> lines, string path, out WordList list)
    {
        list = Empty;
        var alternatives = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            string alternative;
            if (line.Length >= 2 && line[0] == '/' && line[^1] == '/')
            {
                alternative = line[1..^1];
                if (alternative.Length == 0)
                {
                    return $"'{path}' line {i + 1}: an empty pattern would match every message.";
                }

                try
                {
                    _ = Compile(alternative);
                }
                catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
                {
                    return $"'{path}' line {i + 1}: '{line}' is not a pattern this filter can run ({ex.Message}).";
                }
            }
            else
            {
                alternative = Phrase(line.Normalize(NormalizationForm.FormKC));
            }

            alternatives.Add(alternative);
        }

        if (alternatives.Count > 0)
        {
            list = new WordList(Compile(string.Join('|', alternatives.Select(a => $"(?:{a})"))), alternatives.Count);
        }

        return null;
    }

    /// <summary>Whole words: a word boundary at each end that is a word character (an entry such as <c>c++</c> ends where it ends).</summary>
    private static string Phrase(string line)
    {
        var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var body = string.Join(@"\s+", words.Select(Regex.Escape));
        var start = char.IsLetterOrDigit(line[0]) || line[0] == '_' ? @"\b" : "";
        var end = char.IsLetterOrDigit(line[^1]) || line[^1] == '_' ? @"\b" : "";
        return start + body + end;
    }

    private static Regex Compile(string pattern) =>
        new(pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, MatchTimeout);
}
