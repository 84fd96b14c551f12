using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace Chat.Protocol.Grpc;

/// <summary>
/// The shared secret our nodes prove to each other on every gRPC call: a bearer token in the call's
/// metadata (the seed's messages stay as they are; a broker built from the seed's files only adds
/// the header). Compared in constant time.
/// </summary>
public sealed class ClusterSecret
{
    public const string HeaderName = "authorization";
    private readonly byte[] _expected;

    public ClusterSecret(string secret)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(secret);
        Value = secret.Trim();
        _expected = Encoding.UTF8.GetBytes("Bearer " + Value);
        Headers = new Metadata { { HeaderName, "Bearer " + Value } };
    }

    public string Value { get; }

    /// <summary>The metadata a call to another node carries.</summary>
    public Metadata Headers { get; }

    public bool IsPresentedBy(Metadata requestHeaders)
    {
        var presented = requestHeaders.GetValue(HeaderName);
        return presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _expected);
    }
}
