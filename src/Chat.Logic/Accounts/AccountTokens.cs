using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Chat.Logic.Accounts;

/// <summary>
/// Reconnect tokens: 32 bytes from the OS's cryptographic generator, as base64url text. Only the
/// SHA-256 of the token is kept; a slow hash would add nothing for 256 random bits.
/// </summary>
internal static class AccountTokens
{
    public const int TokenBytes = 32;

    public static (string Token, byte[] Hash) Create()
    {
        Span<byte> secret = stackalloc byte[TokenBytes];
        RandomNumberGenerator.Fill(secret);
        var token = Base64Url.EncodeToString(secret);
        return (token, Hash(token));
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Compares in constant time, so timing reveals nothing about the stored hash.</summary>
    public static bool Matches(string token, byte[] storedHash)
    {
        if (token.Length > 256)
        {
            return false;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), hash);
        return CryptographicOperations.FixedTimeEquals(hash, storedHash);
    }
}
