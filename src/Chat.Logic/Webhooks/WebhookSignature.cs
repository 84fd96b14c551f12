using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Chat.Logic.Webhooks;

/// <summary>
/// How every webhook the chat posts is signed (the report webhook and the filter's classifier alike):
/// <c>X-Chat-Timestamp</c> is the Unix time in seconds, and <c>X-Chat-Signature: sha256=&lt;hex&gt;</c> the
/// lower-case hex HMAC-SHA256, under the operator's secret, of the timestamp, a dot and the body. The
/// receiver can check that the request came from the chat, was not changed, and is recent (a captured
/// request replayed later carries its old timestamp, which the signature binds).
/// </summary>
internal static class WebhookSignature
{
    public const string Header = "X-Chat-Signature";

    public const string TimestampHeader = "X-Chat-Timestamp";

    /// <summary>Signs <paramref name="request"/>, whose body is <paramref name="body"/>, as of now.</summary>
    public static void Stamp(HttpRequestMessage request, ReadOnlySpan<byte> body, string secret, TimeProvider time)
    {
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        request.Headers.Add(TimestampHeader, timestamp);
        request.Headers.Add(Header, Sign(timestamp, body, secret));
    }

    /// <summary>The <see cref="Header"/> value of a post: <c>sha256=</c> and HMAC-SHA256(secret, timestamp + "." + body) in lower-case hex.</summary>
    public static string Sign(string timestamp, ReadOnlySpan<byte> body, string secret)
    {
        var signed = new byte[Encoding.ASCII.GetByteCount(timestamp) + 1 + body.Length];
        var length = Encoding.ASCII.GetBytes(timestamp, signed);
        signed[length] = (byte)'.';
        body.CopyTo(signed.AsSpan(length + 1));
        return "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }

    /// <summary>
    /// Whether <paramref name="signature"/> signs <paramref name="body"/> at <paramref name="timestamp"/> (compared in
    /// constant time) and that timestamp is within <paramref name="tolerance"/> of <paramref name="now"/>: what a receiver checks.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> body, string secret, string? timestamp, string? signature, DateTimeOffset now, TimeSpan tolerance) =>
        timestamp is not null && signature is not null
        && long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
        && Math.Abs(now.ToUnixTimeSeconds() - seconds) <= tolerance.TotalSeconds
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(timestamp, body, secret)), Encoding.ASCII.GetBytes(signature));
}
