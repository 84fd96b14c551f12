using System.ComponentModel.DataAnnotations;

namespace Chat.Protocol.Settings;

/// <summary>The check every options class makes of its timings, so a refusal reads the same everywhere.</summary>
public static class Durations
{
    /// <summary>The longest timing Polly accepts for a timeout or a retry's pause, and more than any chat timing needs.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(1);

    /// <summary>The shortest timeout Polly accepts.</summary>
    public static readonly TimeSpan ShortestTimeout = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// A refusal for each timing that is zero or less (it drives a timer, a deadline or a pause, which
    /// would spin or fire at once) or longer than <see cref="Longest"/>, naming the setting in full.
    /// </summary>
    public static IEnumerable<ValidationResult> MustBePositive(string section, params (string Name, TimeSpan Value)[] timings) =>
        Outside(section, TimeSpan.Zero, "positive", timings);

    /// <summary>As <see cref="MustBePositive"/>, for timeouts: at least <see cref="ShortestTimeout"/>.</summary>
    public static IEnumerable<ValidationResult> MustBeTimeouts(string section, params (string Name, TimeSpan Value)[] timings) =>
        Outside(section, ShortestTimeout - TimeSpan.FromTicks(1), "at least 10 ms", timings);

    private static IEnumerable<ValidationResult> Outside(string section, TimeSpan above, string what, (string Name, TimeSpan Value)[] timings)
    {
        foreach (var (name, value) in timings)
        {
            if (value <= above || value > Longest)
            {
                yield return new ValidationResult($"{section}:{name} must be {what} and at most a day, not {value}.", [name]);
            }
        }
    }
}
