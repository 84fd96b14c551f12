using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Faults;

/// <summary>
/// A network of the test's own, in Linux network namespaces: a hub namespace holding a bridge, and a
/// namespace per host (a node, MariaDB, etcd) joined to it by a veth pair, with an address from
/// 10.224.0.0/24, a range used only inside them. The root namespace gets no interface, route or rule:
/// the test reaches a host through a door (<see cref="Door"/>, a relay on 127.0.0.1 that dials from
/// inside the host's namespace), which a cut of the host does not close, as a visitor's socket to a
/// broker stays open while the broker is cut off from the rest. Faults: <see cref="CutAsync"/> (its
/// link down), <see cref="LoseAsync"/> (an nft rule dropping a share of packets, <c>numgen random</c>:
/// this kernel has no netem), and delay through transparent <see cref="TcpRelay"/>s that nft rules turn
/// the connections between two sides to (<see cref="SlowLinkAsync"/>). Every namespace is named <c>chatf&lt;pid&gt;…</c>: namespaces of a run
/// whose process is gone are removed, with what still runs in them, when the next network is made;
/// disposing removes this one's, whatever the test's outcome.
/// </summary>
public sealed class FaultNetwork : IAsyncDisposable
{
    public const string Prefix = "chatf";
    public const string Ip = "/usr/sbin/ip";
    public const string Nft = "/usr/sbin/nft";
    private const string Subnet = "10.224.0";
    private static int _networks;

    private readonly string _name;
    private readonly NetworkNamespace _hub;
    private readonly List<NetworkNamespace> _hosts = [];
    private readonly ConcurrentDictionary<(string Host, int Port), TcpRelay> _doors = new();
    private readonly List<TcpRelay> _relays = [];

    private FaultNetwork(string name)
    {
        _name = name;
        _hub = new NetworkNamespace($"{name}-hub", IPAddress.None);
    }

    /// <summary>Why a fault network cannot be made here (not root, no ip or nft), or null if it can: tests skip with this reason.</summary>
    public static string? Unavailable =>
        !Signals.IsRoot ? "network namespaces need root (CI runs as root)"
        : !File.Exists(Ip) ? $"{Ip} is missing: apt-get install -y iproute2 (.ci/run does)"
        : !File.Exists(Nft) ? $"{Nft} is missing: apt-get install -y nftables (.ci/run does)"
        : null;

    public IReadOnlyList<NetworkNamespace> Hosts => _hosts;

    /// <summary>Removes what killed runs left, then makes the hub and its bridge.</summary>
    public static async Task<FaultNetwork> CreateAsync()
    {
        if (Unavailable is { } why)
        {
            throw new InvalidOperationException(why);
        }

        await RemoveLeftoversAsync();
        var network = new FaultNetwork(string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}n{Interlocked.Increment(ref _networks)}"));
        try
        {
            await RunAsync(Ip, "netns", "add", network._hub.Name);
            await RunAsync(Ip, "-n", network._hub.Name, "link", "set", "lo", "up");
            await RunAsync(Ip, "-n", network._hub.Name, "link", "add", "br0", "type", "bridge");
            await RunAsync(Ip, "-n", network._hub.Name, "link", "set", "br0", "up");
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    /// <summary>A new host on the bridge, its link up, with the next address.</summary>
    public async Task<NetworkNamespace> AddHostAsync(string name)
    {
        var number = _hosts.Count + 10;
        var host = new NetworkNamespace($"{_name}-{name}", IPAddress.Parse($"{Subnet}.{number}"));
        _hosts.Add(host); // before it exists: a half-made host is removed too
        await RunAsync(Ip, "netns", "add", host.Name);
        await RunAsync(Ip, "-n", host.Name, "link", "set", "lo", "up");
        await RunAsync(Ip, "-n", _hub.Name, "link", "add", Port(host), "type", "veth", "peer", "name", "eth0", "netns", host.Name);
        await RunAsync(Ip, "-n", _hub.Name, "link", "set", Port(host), "master", "br0", "up");
        await RunAsync(Ip, "-n", host.Name, "addr", "add", $"{host.Address}/24", "dev", "eth0");
        await RunAsync(Ip, "-n", host.Name, "link", "set", "eth0", "up");
        return host;
    }

    /// <summary>
    /// Where this process reaches <paramref name="port"/> of <paramref name="host"/>: a port on 127.0.0.1 relayed
    /// to the host's address from inside its namespace (one door per port, made on first use).
    /// </summary>
    public IPEndPoint Door(NetworkNamespace host, int port) =>
        _doors.GetOrAdd((host.Name, port), _ =>
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return TcpRelay.Between(listener, new IPEndPoint(host.Address, port), host.ConnectAsync);
        }).EndPoint;

    /// <summary>Its link to the bridge down: nothing reaches it or leaves it (but through its doors), as a pulled cable or a dead switch port.</summary>
    public Task CutAsync(NetworkNamespace host) => RunAsync(Ip, "-n", _hub.Name, "link", "set", Port(host), "down");

    /// <summary>Its link up again; connections that survived the cut go on.</summary>
    public Task HealAsync(NetworkNamespace host) => RunAsync(Ip, "-n", _hub.Name, "link", "set", Port(host), "up");

    /// <summary>
    /// <paramref name="host"/> drops <paramref name="percent"/> % of the packets it sends to and gets from
    /// <paramref name="peers"/> (at random, each direction), until <see cref="ClearAsync"/>.
    /// </summary>
    public Task LoseAsync(NetworkNamespace host, int percent, IEnumerable<NetworkNamespace> peers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(percent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        var addresses = string.Join(", ", peers.Select(peer => peer.Address));
        var share = percent == 100 ? "" : $"numgen random mod 100 < {percent} ";
        return NftAsync(host, $$"""
            {{Clear}}
            table inet chatfault {
              chain in { type filter hook input priority 0; ip saddr { {{addresses}} } {{share}}drop; }
              chain out { type filter hook output priority 0; ip daddr { {{addresses}} } {{share}}drop; }
            }
            """);
    }

    /// <summary><paramref name="host"/> drops everything to and from <paramref name="peers"/> (a firewall between them, silent), until <see cref="ClearAsync"/>.</summary>
    public Task BlockAsync(NetworkNamespace host, IEnumerable<NetworkNamespace> peers) => LoseAsync(host, 100, peers);

    /// <summary>Removes the rules <see cref="LoseAsync"/> and <see cref="BlockAsync"/> put on <paramref name="host"/>.</summary>
    public Task ClearAsync(NetworkNamespace host) => NftAsync(host, Clear);

    // nft 1.0.6 has no "destroy": a table is added (a no-op if it is there) so that deleting it cannot fail.
    private const string Clear = "add table inet chatfault\ndelete table inet chatfault";

    /// <summary>
    /// A slow link between <paramref name="host"/> and <paramref name="peers"/>: from now on every TCP connection one side
    /// opens to the other is turned (an nft <c>redirect</c> rule of the side dialled, <c>table ip chatslow</c>) to a
    /// transparent relay in that side's namespace, which passes it on to the port dialled and holds its bytes for the
    /// link's <see cref="SlowLink.Delay"/> in each direction. Both ends keep their addresses, so TLS checks names as it
    /// does without the link; the side dialled sees the connection come from its own address. Connections opened
    /// before stay direct: make the link before the nodes start.
    /// </summary>
    public async Task<SlowLink> SlowLinkAsync(NetworkNamespace host, IEnumerable<NetworkNamespace> peers)
    {
        var others = peers.ToList();
        var relays = new List<(NetworkNamespace Side, TcpRelay Relay)>();
        foreach (var (side, from) in others.Select(peer => (peer, (IEnumerable<NetworkNamespace>)[host])).Prepend((host, others)))
        {
            var listener = side.OpenSocket();
            listener.Bind(new IPEndPoint(side.Address, 0));
            var relay = TcpRelay.Transparent(listener, side.ConnectAsync);
            lock (_relays)
            {
                _relays.Add(relay); // removed with the network
            }

            relays.Add((side, relay));
            await NftAsync(side, $$"""
                table ip chatslow {
                  chain turn { type nat hook prerouting priority dstnat; ip saddr { {{string.Join(", ", from.Select(peer => peer.Address))}} } meta l4proto tcp redirect to :{{relay.EndPoint.Port}}; }
                }
                """);
        }

        return new SlowLink(relays);
    }

    /// <summary>Removes the relays, every host and the hub; what runs in a host must have been stopped before.</summary>
    public async ValueTask DisposeAsync()
    {
        var failures = new List<Exception>();
        foreach (var relay in _doors.Values.Concat(_relays))
        {
            try
            {
                await relay.DisposeAsync();
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }

        foreach (var space in _hosts.Append(_hub))
        {
            try
            {
                await RemoveAsync(space.Name);
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }

        if (failures.Count > 0)
        {
            throw new AggregateException("the fault network was not removed whole", failures);
        }
    }

    /// <summary>The names of this suite's namespaces that exist now.</summary>
    public static IReadOnlyList<string> Existing() =>
        Directory.Exists("/run/netns")
            ? [.. Directory.EnumerateFiles("/run/netns", Prefix + "*").Select(Path.GetFileName).OfType<string>()]
            : [];

    /// <summary>Namespaces of runs whose process is gone (a killed test host): what still runs there was started by that run, and is killed by PID first.</summary>
    private static async Task RemoveLeftoversAsync()
    {
        foreach (var name in Existing())
        {
            var digits = new string([.. name.AsSpan(Prefix.Length).ToArray().TakeWhile(char.IsAsciiDigit)]);
            if (int.TryParse(digits, CultureInfo.InvariantCulture, out var owner) && (owner == Environment.ProcessId || IsRunning(owner)))
            {
                continue;
            }

            await RemoveAsync(name);
        }
    }

    private static bool IsRunning(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>Kills (by PID) what still runs in the namespace, then deletes it; its veth goes with it.</summary>
    private static async Task RemoveAsync(string name)
    {
        if (!File.Exists(Path.Combine("/run/netns", name)))
        {
            return;
        }

        var pids = await RunAsync(Ip, "netns", "pids", name);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Signals.Send(int.Parse(pid, CultureInfo.InvariantCulture), Signals.Kill);
        }

        await RunAsync(Ip, "netns", "delete", name);
    }

    /// <summary>The hub's end of a host's veth pair (an interface name fits in 15 characters).</summary>
    private string Port(NetworkNamespace host) => string.Create(CultureInfo.InvariantCulture, $"v{_hosts.IndexOf(host) + 10}");

    private static Task NftAsync(NetworkNamespace host, string rules) => RunAsync(Ip, ["netns", "exec", host.Name, Nft, "-f", "-"], rules);

    private static Task<string> RunAsync(string program, params string[] arguments) => RunAsync(program, arguments, null);

    /// <summary>Runs a short command to its end; its output, or an exception with its error output.</summary>
    private static async Task<string> RunAsync(string program, string[] arguments, string? input)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().Within(TimeSpan.FromSeconds(30), $"{program} {string.Join(' ', arguments)}");
        return process.ExitCode == 0
            ? await output
            : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await errors}");
    }
}
