using System.Security.Cryptography;
using System.Text;

namespace Chat.Logic.Webhooks;

/// <summary>
/// How every webhook the chat posts is signed: the header <c>X-Chat-Signature: sha256=&lt;hex&gt;</c>,
/// the lower-case hex HMAC-SHA256 of the request's body under the operator's secret (the scheme
/// GitHub's webhooks use), so the receiver can check the request came from the chat and was not changed.
/// </summary>
internal static class WebhookSignature
{
    public const string Header = "X-Chat-Signature";

    public static string Sign(ReadOnlySpan<byte> body, string secret) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>Whether <paramref name="header"/> is the signature of <paramref name="body"/> (compared in constant time).</summary>
    public static bool Verify(ReadOnlySpan<byte> body, string secret, string? header) =>
        header is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(body, secret)), Encoding.ASCII.GetBytes(header));
}
