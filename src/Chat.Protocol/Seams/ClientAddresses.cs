using System.Net;
using System.Net.Sockets;

namespace Chat.Protocol.Seams;

/// <summary>
/// The address a per-address limit counts a visitor under: its IPv4 address, or for IPv6 the /64
/// it belongs to (one subscriber's home network is usually a whole /64, and any address in it is
/// theirs to use). The broker makes the key; logic counts by it.
/// </summary>
public static class ClientAddresses
{
    /// <summary>The key of a socket whose peer address is not known (a test host, a Unix socket).</summary>
    public const string Unknown = "unknown";

    public static string KeyOf(IPAddress? address)
    {
        if (address is null)
        {
            return Unknown;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return $"{new IPAddress(bytes)}/64";
    }

    /// <summary>The first address a key stands for (the /64's first address for IPv6), or null for <see cref="Unknown"/> and anything else.</summary>
    public static IPAddress? FirstAddressOf(string key)
    {
        var text = key.EndsWith("/64", StringComparison.Ordinal) ? key[..^3] : key;
        return IPAddress.TryParse(text, out var address) ? address : null;
    }
}
