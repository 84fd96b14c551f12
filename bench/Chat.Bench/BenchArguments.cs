using System.Globalization;

namespace Chat.Bench;

/// <summary><c>scenario --name value …</c>; every option a scenario reads must be known, or the run stops.</summary>
public sealed class BenchArguments
{
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    public BenchArguments(string[] args)
    {
        Scenario = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "";
        for (var i = Scenario.Length > 0 ? 1 : 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            var name = args[i][2..];
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                values[name[..eq]] = name[(eq + 1)..];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                values[name] = args[++i];
            }
            else
            {
                values[name] = "true";
            }
        }
    }

    public string Scenario { get; }

    public string? Text(string name)
    {
        read.Add(name);
        return values.GetValueOrDefault(name);
    }

    public int Int(string name, int fallback) => Text(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public long Long(string name, long fallback) => Text(name) is { } v ? long.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => Text(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public TimeSpan Seconds(string name, double fallback) => TimeSpan.FromSeconds(Double(name, fallback));

    public TimeSpan? OptionalSeconds(string name) => Text(name) is { } v ? TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) : null;

    public int? OptionalInt(string name) => Text(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;

    /// <summary>A comma-separated list of numbers (<c>--server-pid 12,34</c>); null when absent.</summary>
    public int[]? OptionalInts(string name) =>
        Text(name) is { } v ? [.. v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => int.Parse(n, CultureInfo.InvariantCulture))] : null;

    /// <summary>A switch: present (<c>--name</c> or <c>--name true</c>) or not.</summary>
    public bool Flag(string name) => Text(name) is { } v && v != "false";

    /// <summary>Options given but never read: a typo, or an option of another scenario.</summary>
    public IEnumerable<string> Unread => values.Keys.Where(k => !read.Contains(k));
}
