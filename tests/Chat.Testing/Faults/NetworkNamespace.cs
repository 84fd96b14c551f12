using System.ComponentModel;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Chat.Testing.Faults;

/// <summary>
/// One Linux network namespace the fault fixture made (<c>ip netns add</c>, so it is a file in
/// <c>/run/netns</c>): a program started with <see cref="Launch"/> runs in it, and this process can
/// open sockets in it (<see cref="OpenSocket"/>) without leaving the root namespace: a new thread
/// enters the namespace, makes the socket and ends, and the socket stays in the namespace it was made in.
/// </summary>
public sealed class NetworkNamespace(string name, IPAddress address)
{
    private const int NewNetworkNamespace = 0x40000000; // CLONE_NEWNET

    public string Name => name;

    /// <summary>Its address on the fault network's bridge.</summary>
    public IPAddress Address => address;

    /// <summary>A command line that runs <paramref name="program"/> in this namespace; <c>ip netns exec</c> execs it, so the PID is the program's.</summary>
    public (string Program, IReadOnlyList<string> Arguments) Launch(string program, IEnumerable<string> arguments) =>
        (FaultNetwork.Ip, ["netns", "exec", name, program, .. arguments]);

    /// <summary>A TCP socket of this namespace (IPv4): connect it to an address there, or bind and listen there.</summary>
    public Socket OpenSocket() => OpenSocket(SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A socket of this namespace (IPv4) of any kind.</summary>
    public Socket OpenSocket(SocketType type, ProtocolType protocol)
    {
        using var handle = File.OpenHandle(Path.Combine("/run/netns", name));
        Socket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (EnterNamespace((int)handle.DangerousGetHandle(), NewNetworkNamespace) != 0)
                {
                    throw new Win32Exception(Marshal.GetLastPInvokeError(), $"setns into {name}");
                }

                socket = new Socket(AddressFamily.InterNetwork, type, protocol);
                if (protocol == ProtocolType.Tcp)
                {
                    socket.NoDelay = true;
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join(); // the thread ends inside the namespace; no other code ever runs on it
        return socket ?? throw new InvalidOperationException($"no socket in network namespace {name}", failure);
    }

    /// <summary>A connected socket to <paramref name="server"/>, made in this namespace.</summary>
    public async Task<Socket> ConnectAsync(IPEndPoint server, CancellationToken cancellationToken)
    {
        var socket = OpenSocket();
        try
        {
            await socket.ConnectAsync(server, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override string ToString() => $"{name} ({address})";

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int EnterNamespace(int fd, int type);
}
