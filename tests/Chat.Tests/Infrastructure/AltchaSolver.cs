using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Chat.Tests.Infrastructure;

/// <summary>Solves an ALTCHA (v1) challenge as its widget does: tries numbers until SHA-256(salt + n) is the challenge.</summary>
public static class AltchaSolver
{
    /// <summary>The base64 JSON payload the widget would send for <paramref name="challenge"/> (a response's <c>challenge</c> object).</summary>
    public static string Solve(JsonElement challenge)
    {
        Assert.Equal("SHA-256", challenge.GetProperty("algorithm").GetString());
        var target = challenge.GetProperty("challenge").GetString()!;
        var salt = challenge.GetProperty("salt").GetString()!;
        var max = challenge.GetProperty("maxnumber").GetInt64();
        for (long n = 0; n <= max; n++)
        {
            if (Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(salt + n.ToString(CultureInfo.InvariantCulture)))) == target)
            {
                return Payload(challenge, n);
            }
        }

        throw new Xunit.Sdk.XunitException($"no number up to {max} solves {challenge}");
    }

    /// <summary>The widget's payload for <paramref name="challenge"/> with <paramref name="number"/>, right or not.</summary>
    public static string Payload(JsonElement challenge, long number, string? signature = null) =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["algorithm"] = challenge.GetProperty("algorithm").GetString()!,
            ["challenge"] = challenge.GetProperty("challenge").GetString()!,
            ["number"] = number,
            ["salt"] = challenge.GetProperty("salt").GetString()!,
            ["signature"] = signature ?? challenge.GetProperty("signature").GetString()!,
            ["took"] = 12,
        }));
}
