using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Abuse;

/// <summary>
/// Proof-of-work challenges in the ALTCHA format (https://altcha.org; the v1 challenge its widget
/// and its libraries make and solve): a salt, a secret number n at most <c>maxnumber</c>, the
/// challenge SHA-256(salt + n) in lower-case hex, and the HMAC-SHA256 of that challenge under the
/// server's key as the signature. The client finds n by trying; its answer (the widget's payload:
/// base64 of JSON <c>{algorithm, challenge, number, salt, signature}</c>) is checked here without
/// anything kept: the signature says the server made the challenge, the salt carries its expiry
/// (<c>?expires=</c>, Unix seconds, as ALTCHA's libraries put it) and, ours, a keyed tag of the
/// address it was made for, and ends with ALTCHA's <c>&amp;</c>, so no digit of the number can be
/// passed off as part of the salt. That an answer is used once is the address shard's business.
/// </summary>
internal sealed partial class Altcha(AltchaKey key, IOptions<LimitOptions> options, TimeProvider time)
{
    public const string Algorithm = "SHA-256";

    /// <summary>Longer than any payload of ours (about 300 characters): anything bigger is not read.</summary>
    private const int MaxPayloadLength = 2048;

    private readonly ChallengeOptions _options = options.Value.Challenge;

    public AltchaChallenge Create(string address)
    {
        var expires = (time.GetUtcNow() + _options.Expiry).ToUnixTimeSeconds();
        var salt = $"{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}?expires={expires.ToString(CultureInfo.InvariantCulture)}&a={Tag(address)}&";
        var number = RandomNumberGenerator.GetInt32(0, (int)Math.Min(int.MaxValue - 1, _options.MaxNumber) + 1);
        var challenge = Hash(salt, number);
        return new AltchaChallenge(Algorithm, challenge, _options.MaxNumber, salt, Sign(challenge));
    }

    /// <summary>Checks a client's answer to a challenge made for <paramref name="address"/>.</summary>
    public Verdict Verify(string payload, string address, out SolvedChallenge solved)
    {
        solved = default;
        if (payload.Length is 0 or > MaxPayloadLength || !TryRead(payload, out var answer))
        {
            return Verdict.Malformed;
        }

        if (answer.Algorithm != Algorithm)
        {
            return Verdict.Malformed;
        }

        var salt = SaltShape().Match(answer.Salt);
        if (!salt.Success || !long.TryParse(salt.Groups["expires"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
        {
            return Verdict.Malformed;
        }

        // The hash and the signature first: until they hold, nothing in the salt is ours to believe.
        var challenge = Hash(answer.Salt, answer.Number);
        if (!string.Equals(challenge, answer.Challenge, StringComparison.Ordinal) || !SameHex(Sign(challenge), answer.Signature))
        {
            return Verdict.Forged;
        }

        if (time.GetUtcNow().ToUnixTimeSeconds() >= expires)
        {
            return Verdict.Expired;
        }

        if (!SameHex(Tag(address), salt.Groups["address"].Value))
        {
            return Verdict.OtherAddress;
        }

        solved = new SolvedChallenge(salt.Groups["id"].Value, expires);
        return Verdict.Solved;
    }

    public enum Verdict
    {
        Solved,
        /// <summary>Not a payload, not base64 JSON of the right fields, not SHA-256, or not a salt of ours.</summary>
        Malformed,
        /// <summary>The number does not give the challenge, or the signature is not ours.</summary>
        Forged,
        Expired,
        /// <summary>Made for another address.</summary>
        OtherAddress,
    }

    private string Sign(string challenge) => Convert.ToHexStringLower(HMACSHA256.HashData(key.Bytes, Encoding.UTF8.GetBytes(challenge)));

    /// <summary>The address, keyed so that the salt does not reveal it; 16 hex digits.</summary>
    private string Tag(string address) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key.Bytes, Encoding.UTF8.GetBytes("address:" + address)).AsSpan(0, 8));

    private static string Hash(string salt, long number) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(salt + number.ToString(CultureInfo.InvariantCulture))));

    private static bool SameHex(string expected, string? given) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given));

    private static bool TryRead(string payload, out Answer answer)
    {
        answer = default;
        Span<byte> json = stackalloc byte[MaxPayloadLength];
        if (!Convert.TryFromBase64String(payload, json, out var length))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(json[..length]);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            string? algorithm = null, challenge = null, salt = null, signature = null;
            long? number = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "algorithm" when reader.TokenType == JsonTokenType.String:
                        algorithm = reader.GetString();
                        break;
                    case "challenge" when reader.TokenType == JsonTokenType.String:
                        challenge = reader.GetString();
                        break;
                    case "salt" when reader.TokenType == JsonTokenType.String:
                        salt = reader.GetString();
                        break;
                    case "signature" when reader.TokenType == JsonTokenType.String:
                        signature = reader.GetString();
                        break;
                    case "number" when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n) && n >= 0:
                        number = n;
                        break;
                    default:
                        reader.Skip(); // "took" and whatever else a widget adds
                        break;
                }
            }

            if (algorithm is null || challenge is null || salt is null || signature is null || number is null)
            {
                return false;
            }

            answer = new Answer(algorithm, challenge, number.Value, salt, signature);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private readonly record struct Answer(string Algorithm, string Challenge, long Number, string Salt, string Signature);

    [GeneratedRegex("^(?<id>[0-9a-f]{24})\\?expires=(?<expires>[0-9]{1,12})&a=(?<address>[0-9a-f]{16})&$", RegexOptions.CultureInvariant)]
    private static partial Regex SaltShape();
}

/// <summary>A challenge answered correctly: its salt's random part (what is spent) and when it expires (Unix seconds).</summary>
[GenerateSerializer, Immutable]
internal readonly record struct SolvedChallenge([property: Id(0)] string Id, [property: Id(1)] long ExpiresAt);

/// <summary>
/// The key challenges are signed with: <c>Chat:Limits:Challenge:Key</c>, the file
/// <c>Chat:Limits:Challenge:KeyFile</c> names, or else one made once and kept beside the SQLite
/// file (<c>altcha.key</c>, readable by this user only). Every logic node of a cluster must have the
/// same: a file on each (without TLS the host derives one from the shared secret unless one is set).
/// </summary>
internal sealed class AltchaKey
{
    public const string FileName = "altcha.key";

    public AltchaKey(IOptions<LimitOptions> options, IOptions<Storage.StoreOptions> store)
    {
        var challenge = options.Value.Challenge;
        var text = !string.IsNullOrEmpty(challenge.Key) ? challenge.Key
            : !string.IsNullOrEmpty(challenge.KeyFile) ? File.ReadAllText(challenge.KeyFile).Trim()
            : KeptIn(Path.GetDirectoryName(Path.GetFullPath(store.Value.Path)) ?? ".");
        if (text.Length == 0)
        {
            throw new InvalidOperationException($"{LimitOptions.Section}:Challenge: the challenge key is empty.");
        }

        Bytes = Encoding.UTF8.GetBytes(text); // as ALTCHA's libraries take a key: its text's UTF-8 bytes
    }

    public byte[] Bytes { get; }

    /// <summary>The key kept in <paramref name="folder"/>, made there first if there is none.</summary>
    private static string KeptIn(string folder)
    {
        // The data folder is the user's alone (as the SQLite store makes it), whichever of the two makes it first.
        _ = OperatingSystem.IsWindows() ? Directory.CreateDirectory(folder) : Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Path.Combine(folder, FileName);
        var made = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            // Created only if there is none (O_EXCL: of starts at the same moment exactly one makes it), in one write.
            using var file = new FileStream(path, options);
            file.Write(Encoding.ASCII.GetBytes(made));
            file.Flush(flushToDisk: true);
            return made;
        }
        catch (IOException) when (File.Exists(path))
        {
            return Written(path);
        }
    }

    /// <summary>
    /// The key in <paramref name="path"/>; one another start has just created may not hold its key yet (it is written
    /// right after), so an empty file is read again for a moment before it counts as empty.
    /// </summary>
    private static string Written(string path)
    {
        var text = File.ReadAllText(path).Trim();
        for (var tries = 0; text.Length == 0 && tries < 100; tries++)
        {
            Thread.Sleep(10);
            text = File.ReadAllText(path).Trim();
        }

        return text;
    }
}
