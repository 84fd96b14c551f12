using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Chat.Logic.Accounts;

namespace Chat.Logic.Moderation;

/// <summary>
/// The operator's JSON API (<c>Chat:Operator</c>): off unless <see cref="Tokens"/> names at least one
/// operator. It listens on a port of its own (<see cref="Url"/>, loopback by default), never on the port
/// the visitors' WebSockets use, in each process that runs logic (all-in-one, logic nodes).
/// </summary>
public sealed class OperatorOptions : IValidatableObject
{
    public const string Section = "Chat:Operator";

    /// <summary>Where the API listens (http://host:port; port 0 picks a free one).</summary>
    public string Url { get; set; } = "http://127.0.0.1:18227";

    /// <summary>Operator name → the SHA-256 (hex) of that operator's token, as <c>chat admin-token NAME</c> prints it.</summary>
    public Dictionary<string, string> Tokens { get; set; } = new(StringComparer.Ordinal);

    public bool IsOn => Tokens.Count > 0;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, hash) in Tokens)
        {
            if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
            {
                yield return new ValidationResult($"{Section}:Tokens:{name} must be the 64 hex digits `chat admin-token {name}` printed (the token's SHA-256), not the token itself.", [nameof(Tokens)]);
            }
        }

        if (IsOn && !(Uri.TryCreate(Url, UriKind.Absolute, out var url) && url.Scheme == "http"))
        {
            yield return new ValidationResult($"{Section}:Url must be http://host:port (put TLS in front of it, as for the chat itself).", [nameof(Url)]);
        }
    }

    /// <summary>
    /// The name of the operator whose token this is, or null. Every configured hash is compared, each in
    /// constant time, so the answer takes as long whichever (if any) matches.
    /// </summary>
    public string? OperatorOf(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        var hash = AccountTokens.Hash(token);
        string? found = null;
        foreach (var (name, stored) in Tokens)
        {
            var expected = stored.Length == 64 ? Convert.FromHexString(stored) : new byte[32];
            if (CryptographicOperations.FixedTimeEquals(hash, expected) && found is null)
            {
                found = name;
            }
        }

        return found;
    }

    /// <summary>A new operator token (32 random bytes, base64url) and the line that configures it.</summary>
    public static (string Token, string Line) NewToken(string name)
    {
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        return (token, $"Chat__Operator__Tokens__{name}={hash}");
    }
}
