namespace Chat.Protocol.Grpc;

/// <summary>
/// A node's gRPC address as nodes name and dial each other: host:port (an IP address, <c>[v6]</c>, or a
/// host name; a port 1-65535), exactly what <c>https://host:port/</c> makes a URL of.
/// </summary>
public static class NodeAddress
{
    /// <summary>Longest address kept (the store's broker column).</summary>
    public const int MaxLength = 255;

    /// <summary>What is wrong with <paramref name="address"/>, after the word that names it in a sentence; null if it is host:port.</summary>
    public static string? Problem(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return "is required (host:port)";
        }

        var colon = address.LastIndexOf(':');
        if (address.Length > MaxLength || colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535 || Uri.CheckHostName(address[..colon].Trim('[', ']')) == UriHostNameType.Unknown
            || !Uri.TryCreate($"https://{address}/", UriKind.Absolute, out var uri) || uri.Port != port || uri.PathAndQuery != "/" || uri.UserInfo.Length > 0)
        {
            return "is not host:port (such as 10.0.0.5:18225)";
        }

        return null;
    }
}
