using System.Net;
using System.Net.Sockets;

namespace Chat.Testing.Network;

/// <summary>Loopback ports for fixtures that must name one before the program using it starts.</summary>
public static class LoopbackPort
{
    /// <summary>
    /// A port free on 127.0.0.1 right now. Prefer listening on port 0 where the program can report
    /// its port back: another process may take this one before it is used.
    /// </summary>
    public static int Free()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
