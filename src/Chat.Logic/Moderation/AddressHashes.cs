using System.Security.Cryptography;
using System.Text;
using Chat.Logic.Abuse;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// How a report keeps an address: an HMAC-SHA256 under a secret salt (so the same address gives the
/// same value in every report, and nobody without the salt can test a guess), or plain when the
/// operator says so (<see cref="ModerationOptions.HashAddresses"/>).
/// </summary>
internal sealed class AddressHashes(IOptions<ModerationOptions> options, IServiceProvider services)
{
    // Made on first use, not at start: the challenge key may be a file the store's folder holds, made with the folder's own mode.
    private readonly Lazy<byte[]> _salt = new(() => options.Value.AddressSalt is { Length: > 0 } salt
        ? Encoding.UTF8.GetBytes(salt)
        : HMACSHA256.HashData(services.GetRequiredService<AltchaKey>().Bytes, "chat: report address salt"u8));

    private readonly bool _hash = options.Value.HashAddresses;

    /// <summary>The address as a report keeps it; null stays null.</summary>
    public string? Keep(string? address) =>
        address is null ? null : _hash ? "h:" + Convert.ToHexStringLower(HMACSHA256.HashData(_salt.Value, Encoding.UTF8.GetBytes(address)))[..32] : address;
}
