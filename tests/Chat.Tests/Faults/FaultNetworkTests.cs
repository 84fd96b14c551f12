using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Chat.Testing;
using Chat.Testing.Faults;
using Chat.Testing.Network;

namespace Chat.Tests.Faults;

/// <summary>
/// The fault fixture itself: hosts in network namespaces that reach each other over a bridge, a cut and
/// a heal, nft loss, the doors this process uses, and nothing of it left behind (also of a killed run).
/// Skipped, with the reason, where namespaces cannot be made (not root).
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class FaultNetworkTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [SkippableFact]
    public async Task A_cut_host_is_unreachable_from_the_others_until_healed_while_its_door_stays_open()
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);
        await using var network = await FaultNetwork.CreateAsync();
        var server = await network.AddHostAsync("server");
        var client = await network.AddHostAsync("client");
        using var listener = server.OpenSocket();
        listener.Bind(new IPEndPoint(server.Address, 7000));
        listener.Listen(16);
        using var echoing = new CancellationTokenSource();
        var echo = EchoAsync(listener, echoing.Token);

        // Across the bridge, and through a door from this process (the root namespace has no route to 10.224.0.0/24).
        var open = await client.ConnectAsync(new IPEndPoint(server.Address, 7000), CancellationToken.None);
        Assert.Equal("across", await RoundTripAsync(open, "across"));
        using (var door = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await door.ConnectAsync(network.Door(server, 7000));
            Assert.Equal("door", await RoundTripAsync(door, "door"));
        }

        await network.CutAsync(server);

        // Cut: a new connection does not get through, and bytes on the open one wait in TCP's retransmissions.
        using (var late = client.OpenSocket())
        {
            using var connecting = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<Exception>(async () => await late.ConnectAsync(new IPEndPoint(server.Address, 7000), connecting.Token));
        }

        await open.SendAsync("during"u8.ToArray());
        var answer = ReadAsync(open, "during".Length);
        await Task.Delay(TimeSpan.FromSeconds(1)); // a second of the cut, to see that nothing crosses it
        Assert.False(answer.IsCompleted);

        // The door is inside the host's namespace: a visitor's socket to a cut-off broker stays open so.
        using (var door = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await door.ConnectAsync(network.Door(server, 7000));
            Assert.Equal("door in the cut", await RoundTripAsync(door, "door in the cut"));
        }

        // Healed: what waited arrives on the same connection, new ones get through.
        await network.HealAsync(server);
        Assert.Equal("during", await answer.Within(TimeSpan.FromSeconds(30), "the bytes sent during the cut to arrive after it"));
        using (var after = await client.ConnectAsync(new IPEndPoint(server.Address, 7000), CancellationToken.None))
        {
            Assert.Equal("after", await RoundTripAsync(after, "after"));
        }

        open.Dispose();
        await echoing.CancelAsync();
        await echo;
    }

    [SkippableFact]
    public async Task An_nft_loss_rule_drops_about_its_share_of_packets_and_a_block_drops_all_until_cleared()
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);
        await using var network = await FaultNetwork.CreateAsync();
        var receiver = await network.AddHostAsync("receiver");
        var sender = await network.AddHostAsync("sender");
        var bystander = await network.AddHostAsync("bystander");
        using var inbox = receiver.OpenSocket(SocketType.Dgram, ProtocolType.Udp);
        inbox.Bind(new IPEndPoint(receiver.Address, 7001));

        async Task<int> ArrivedOfAsync(NetworkNamespace from, int count)
        {
            // Counted while they are sent, so the receive buffer never overflows (a loss that would not be the rule's).
            var counting = Task.Run(async () =>
            {
                var arrived = 0;
                var buffer = new byte[16];
                while (await inbox.ReceiveAsync(buffer, SocketFlags.None) != 3)
                {
                    arrived++;
                }

                return arrived;
            });
            using var outbox = from.OpenSocket(SocketType.Dgram, ProtocolType.Udp);
            var to = new IPEndPoint(receiver.Address, 7001);
            for (var i = 0; i < count; i++)
            {
                await outbox.SendToAsync(BitConverter.GetBytes(i), to);
                if (i % 50 == 49)
                {
                    await Task.Delay(5); // paced: a burst larger than the receive buffer would lose datagrams by itself
                }
            }

            // "end" until one gets through: the count is complete once it is in.
            while (!counting.IsCompleted)
            {
                await outbox.SendToAsync("end"u8.ToArray(), to);
                await Task.WhenAny(counting, Task.Delay(200));
            }

            return await counting;
        }

        // 30 % of 2,000 datagrams each way: a share near 70 % arrives (binomial: 1,400 ± 20, bounds at about 6 σ).
        await network.LoseAsync(receiver, 30, [sender]);
        var arrived = await ArrivedOfAsync(sender, 2000).Within(Limit * 3, "datagrams through the lossy rule");
        Assert.InRange(arrived, 1250, 1550);
        Assert.Equal(500, await ArrivedOfAsync(bystander, 500).Within(Limit * 3, "datagrams from a host the rule does not name"));

        await network.BlockAsync(receiver, [sender]);
        using (var outbox = sender.OpenSocket(SocketType.Dgram, ProtocolType.Udp))
        {
            for (var i = 0; i < 200; i++)
            {
                await outbox.SendToAsync(BitConverter.GetBytes(i), new IPEndPoint(receiver.Address, 7001));
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1)); // a second of silence: nothing got through
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await inbox.ReceiveAsync(new byte[16], SocketFlags.None, wait.Token));
        }

        await network.ClearAsync(receiver);
        Assert.Equal(500, await ArrivedOfAsync(sender, 500).Within(Limit * 3, "datagrams after the rules were cleared"));
    }

    [SkippableFact]
    public async Task A_slow_link_relays_both_ways_between_its_sides_holding_bytes_by_its_delay_in_order_and_leaves_others_direct()
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);
        await using var network = await FaultNetwork.CreateAsync();
        var broker = await network.AddHostAsync("broker");
        var logic = await network.AddHostAsync("logic");
        var bystander = await network.AddHostAsync("bystander");
        using var echoing = new CancellationTokenSource();
        var echoes = new List<Task>();
        foreach (var host in new[] { broker, logic })
        {
            var listener = host.OpenSocket();
            listener.Bind(new IPEndPoint(host.Address, 7000));
            listener.Listen(16);
            echoes.Add(EchoAsync(listener, echoing.Token).ContinueWith(_ => listener.Dispose(), TaskScheduler.Default));
        }

        var link = await network.SlowLinkAsync(broker, [logic]);

        // Each side dials the other's own address and port, and the connection goes through the relay of the side dialled.
        using var call = await broker.ConnectAsync(new IPEndPoint(logic.Address, 7000), CancellationToken.None);
        using var push = await logic.ConnectAsync(new IPEndPoint(broker.Address, 7000), CancellationToken.None);
        Assert.Equal("call", await RoundTripAsync(call, "call"));
        Assert.Equal("push", await RoundTripAsync(push, "push"));
        Assert.Equal(new IPEndPoint(logic.Address, 7000), call.RemoteEndPoint); // what a TLS client checks the name against
        Assert.Equal((1, 1), (link.ConnectionsInto(logic), link.ConnectionsInto(broker)));

        // Delayed each way: a round trip holds at least twice the shortest delay (a little less, for the coarse clock it is timed on).
        link.Delay = new LinkDelay(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(50));
        foreach (var socket in new[] { call, push })
        {
            var timer = Stopwatch.StartNew();
            Assert.Equal("slow", await RoundTripAsync(socket, "slow"));
            Assert.True(timer.Elapsed >= TimeSpan.FromMilliseconds(90), $"a round trip over the slow link in {timer.Elapsed.TotalMilliseconds:0} ms");
        }

        // Jitter never reorders a stream: 200 numbered writes, 2 ms apart, come back as they were sent.
        var sent = string.Concat(Enumerable.Range(0, 200).Select(i => i.ToString("D4", CultureInfo.InvariantCulture)));
        var back = ReadAsync(call, sent.Length);
        for (var i = 0; i < sent.Length; i += 4)
        {
            await call.SendAsync(System.Text.Encoding.UTF8.GetBytes(sent.Substring(i, 4)));
            await Task.Delay(2); // writes spread over the jitter, so that they would overtake each other if they could
        }

        Assert.Equal(sent, await back.Within(Limit, "the numbered writes back"));

        // A host the link does not name still talks to either side directly.
        using (var direct = await bystander.ConnectAsync(new IPEndPoint(logic.Address, 7000), CancellationToken.None))
        {
            Assert.Equal("direct", await RoundTripAsync(direct, "direct"));
            Assert.Equal(1, link.ConnectionsInto(logic));
        }

        call.Dispose();
        push.Dispose();
        await echoing.CancelAsync();
        await Task.WhenAll(echoes);
    }

    [SkippableFact]
    public async Task Namespaces_a_killed_run_left_are_removed_with_what_runs_in_them_and_a_network_leaves_nothing_behind()
    {
        Skip.If(FaultNetwork.Unavailable is not null, FaultNetwork.Unavailable);

        // A run that was killed: its namespace, and a program still running in it.
        var gone = Enumerable.Range(3_000_000, 1000).First(pid => !Directory.Exists($"/proc/{pid}"));
        var leftover = string.Create(CultureInfo.InvariantCulture, $"{FaultNetwork.Prefix}{gone}n1-broker1");
        Run(FaultNetwork.Ip, "netns", "add", leftover);
        using var orphan = Process.Start(new ProcessStartInfo(FaultNetwork.Ip, ["netns", "exec", leftover, "sh", "-c", "echo in; exec sleep 600"]) { RedirectStandardOutput = true })!;
        Assert.Equal("in", await orphan.StandardOutput.ReadLineAsync().Within(Limit, "the orphan to be in its namespace"));

        var network = await FaultNetwork.CreateAsync();
        string mine;
        try
        {
            Assert.DoesNotContain(leftover, FaultNetwork.Existing());
            await orphan.WaitForExitAsync().Within(Limit, "the program in the leftover namespace to be killed");

            var host = await network.AddHostAsync("node");
            mine = host.Name[..(host.Name.LastIndexOf('-') + 1)]; // the network's own prefix: its hub and hosts
            Assert.Equal(2, FaultNetwork.Existing().Count(name => name.StartsWith(mine, StringComparison.Ordinal)));
        }
        finally
        {
            await network.DisposeAsync();
        }

        Assert.DoesNotContain(FaultNetwork.Existing(), name => name.StartsWith(mine, StringComparison.Ordinal));
    }

    private static void Run(string program, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments))!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    private static async Task EchoAsync(Socket listener, CancellationToken stop)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var connection = await listener.AcceptAsync(stop);
                connections.Add(Task.Run(async () =>
                {
                    using var socket = connection;
                    var buffer = new byte[1024];
                    try
                    {
                        int read;
                        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, stop)) > 0)
                        {
                            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, stop);
                        }
                    }
                    catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                    {
                    }
                }, CancellationToken.None));
            }
        }
        catch (OperationCanceledException)
        {
        }

        await Task.WhenAll(connections);
    }

    private static async Task<string> RoundTripAsync(Socket socket, string text)
    {
        await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(text));
        return await ReadAsync(socket, text.Length).Within(Limit, $"'{text}' back");
    }

    private static async Task<string> ReadAsync(Socket socket, int length)
    {
        var buffer = new byte[length];
        for (var read = 0; read < length;)
        {
            var got = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None);
            Assert.NotEqual(0, got);
            read += got;
        }

        return System.Text.Encoding.UTF8.GetString(buffer);
    }
}

/// <summary>The fault tests one after the other: each holds a cluster's worth of processes, and the machine has two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultCollection
{
    public const string Name = "Faults";
}
