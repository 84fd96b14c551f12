using System.Net;
using Chat.Testing.Faults;

namespace Chat.Testing.Network;

/// <summary>
/// Where a part of a cluster runs: the address it listens on and the others reach it at, how its program is
/// launched there, and where this process reaches its ports. <see cref="Loopback"/>: 127.0.0.1 of this
/// machine, as every fixture ran before; a host of a <see cref="FaultNetwork"/>: its namespace, reached
/// through the network's doors.
/// </summary>
public sealed class NetworkPlace
{
    private readonly NetworkNamespace? _host;
    private readonly FaultNetwork? _network;

    private NetworkPlace(IPAddress address, NetworkNamespace? host, FaultNetwork? network)
    {
        Address = address;
        _host = host;
        _network = network;
    }

    public static NetworkPlace Loopback { get; } = new(IPAddress.Loopback, null, null);

    public IPAddress Address { get; }

    /// <summary>The address as nodes write it (in URLs, certificates, host:port).</summary>
    public string Host => Address.ToString();

    public bool IsLoopback => _host is null;

    /// <summary>The host of a fault network, or null on loopback.</summary>
    public NetworkNamespace? Namespace => _host;

    public static NetworkPlace In(FaultNetwork network, NetworkNamespace host) => new(host.Address, host, network);

    /// <summary>The command line that runs <paramref name="program"/> here.</summary>
    public (string Program, IReadOnlyList<string> Arguments) Launch(string program, IEnumerable<string> arguments) =>
        _host?.Launch(program, arguments) ?? (program, [.. arguments]);

    /// <summary>Where this process connects to reach <paramref name="port"/> here.</summary>
    public IPEndPoint Door(int port) => _host is { } host ? _network!.Door(host, port) : new IPEndPoint(Address, port);
}
