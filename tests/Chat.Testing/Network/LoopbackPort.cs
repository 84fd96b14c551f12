using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Chat.Testing.Network;

/// <summary>Loopback ports for fixtures that must name one before the program using it starts.</summary>
public static class LoopbackPort
{
    private const int Lowest = 20000;
    private static readonly ConcurrentDictionary<int, bool> HandedOut = new();

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

    /// <summary>
    /// A port for a program to listen on, free on 127.0.0.1 now: below the ephemeral range (where
    /// <see cref="Free"/>'s come from), so no outgoing connection of this busy machine takes it
    /// before the program binds it, and never the same twice in this process. Another program can
    /// still take it first; the cluster's parts then start again on new ports (they see "address
    /// already in use").
    /// </summary>
    public static int ForListening()
    {
        var highest = EphemeralStart() - 1;
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(Lowest, highest + 1);
            if (HandedOut.TryAdd(port, true) && IsFree(port))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no free port between {Lowest} and {highest} on 127.0.0.1");
    }

    private static bool IsFree(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port the kernel hands to outgoing connections (32768 unless configured otherwise).</summary>
    private static int EphemeralStart()
    {
        try
        {
            var first = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0];
            return Math.Max(Lowest + 1000, int.Parse(first, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return 32768;
        }
    }
}
