using System.Globalization;
using System.Text.RegularExpressions;

namespace Chat.Tests.Infrastructure;

/// <summary>Reading figures from a server's <c>/metrics</c> (Prometheus' text exposition).</summary>
public static class Exposition
{
    public static async Task<string> ReadAsync(Uri server)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(server, "/metrics"));
    }

    /// <summary>The value of the first sample named <paramref name="name"/> (whose labels contain <paramref name="label"/>, if given).</summary>
    public static double Value(string exposition, string name, string? label = null) =>
        TryValue(exposition, name, label) ?? throw new Xunit.Sdk.XunitException($"{name} {label} not in /metrics:\n{exposition}");

    /// <summary>As <see cref="Value"/>, or null when the series is not there (nothing counted yet).</summary>
    public static double? TryValue(string exposition, string name, string? label = null)
    {
        var pattern = $@"^{Regex.Escape(name)}(\{{[^}}]*\}})?\s+(\S+)";
        foreach (Match match in Regex.Matches(exposition, pattern, RegexOptions.Multiline))
        {
            if (label is null || match.Groups[1].Value.Contains(label, StringComparison.Ordinal))
            {
                return double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
