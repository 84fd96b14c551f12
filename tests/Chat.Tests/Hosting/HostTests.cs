using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Chat.Tests.Hosting;

public sealed class HostTests
{
    [Fact]
    public async Task The_memory_store_can_be_chosen_with_the_store_switch_and_chat_works_on_it()
    {
        await using var server = await ChatServer.StartAsync("store=memory");
        Assert.IsType<MemoryChatStore>(server.Get<IChatStore>());
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "no disk")).Code());
        Assert.Equal("no disk", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.False(File.Exists(Path.Combine(server.DataDirectory, "chat.db")));
    }

    [Fact]
    public async Task Pages_carry_a_strict_content_security_policy()
    {
        await using var server = await ChatServer.StartAsync();
        using var http = new HttpClient();
        var response = await http.GetAsync(server.HttpUri);
        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self';", csp, StringComparison.Ordinal); // sockets back to this origin, not ws: to anywhere
        Assert.DoesNotContain("ws:", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Theory]
    [InlineData("Chat:Broker:PingInterval")]
    [InlineData("Chat:Broker:DeliveryReportInterval")]
    [InlineData("Chat:Logic:SweepInterval")]
    [InlineData("Chat:Logic:ReconnectInterval")]
    [InlineData("Chat:Broker:FrameDeadline")]
    [InlineData("Chat:Broker:ConfirmTimeout")]
    public async Task A_timer_interval_of_zero_is_refused_at_start_naming_the_setting(string setting)
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => ChatServer.StartAsync($"{setting}=00:00:00"));
        Assert.Contains(setting[(setting.LastIndexOf(':') + 1)..], refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("logic", "--Chat:Silo:Tls:CaPath=/nonexistent/ca.pem", "Chat:Silo:Tls:CertificatePath: not set")]
    [InlineData("", "--Chat:Broker:PingInterval=00:00:00", "PingInterval")]
    [InlineData("", "--Chat:Broker:PingInterval=soon", "Chat:Broker:PingInterval")]
    [InlineData("broker", "--Chat:Cluster:LogicAddresses:0=127.0.0.1:1", "write Chat:Cluster:LogicAddresses=a,b (comma-separated)")]
    [InlineData("broker", "--Chat:Cluster:TrustedProxies=127.0.0.l", "Chat:Cluster:TrustedProxies: '127.0.0.l' is not an IP address")]
    [InlineData("", "--Chat:Cluster:TrustedProxies=127.0.0.l", "Chat:Cluster:TrustedProxies must be IP addresses")]
    [InlineData("", "--Chat:Http:MaxWebSockets=0", "MaxWebSockets")]
    [InlineData("broker", "--Chat:Cluster:Etcd=htp://127.0.0.1:2379", "Chat:Cluster:Etcd: 'htp://127.0.0.1:2379' is not an etcd client URL")]
    [InlineData("broker", "--Chat:Cluster:LogicAddresses=127.0.0.1:18223,127.0.0.1", "Chat:Cluster:LogicAddresses: '127.0.0.1' is not host:port")]
    [InlineData("broker", "--Chat:Cluster:GrpcUrl=http://chat-broker:18225", "Chat:Cluster:GrpcUrl: 'http://chat-broker:18225' must name an IP address")]
    [InlineData("broker", "--Chat:Cluster:AdvertisedGrpcAddress=10.0.0.5", "Chat:Cluster:AdvertisedGrpcAddress: '10.0.0.5' is not host:port")]
    [InlineData("broker", "--Chat:Broker:Upstream:CallTimeout=00:00:00", "Chat:Broker:Upstream:CallTimeout must be at least 10 ms")]
    [InlineData("logic", "--urls=http//127.0.0.1:18226", "--urls: 'http//127.0.0.1:18226' is not an http:// URL")]
    [InlineData("logic", "--Chat:Silo:AdvertisedAddress=10.0.0.300", "Chat:Silo:AdvertisedAddress: '10.0.0.300' is not an IP address")]
    [InlineData("logic", "--Chat:Silo:Clustering=adonet", "Chat:Silo:Clustering=adonet keeps membership in the shared MariaDB database")]
    [InlineData("logic", "--Chat:Cluster:EtcdLease=00:00:00.500", "Chat:Cluster:EtcdLease must be at least a second")]
    [InlineData("logic", "--Chat:Logic:Push:GiveUpAfter=-00:00:01", "Chat:Logic:Push:GiveUpAfter must be at least 10 ms")]
    [InlineData("", "--Chat:Health:ReadyTimeout=00:00:00", "Chat:Health:ReadyTimeout must be at least 10 ms")]
    [InlineData("", "--urls=htp:/127.0.0.1:18224", "--urls: 'htp:/127.0.0.1:18224' is not an address to listen on")]
    [InlineData("", "--Chat:Telemetry:OtlpEndpoint=127.0.0.1:4317", "Chat:Telemetry:OtlpEndpoint: '127.0.0.1:4317' is not an http:// or https:// URL")]
    [InlineData("", "--Chat:Limits:AllowList=100.64.0.0/33", "Chat:Limits:AllowList: '100.64.0.0/33' is not an IP address or a CIDR range")]
    [InlineData("logic", "--Chat:Limits:Challenge:KeyFile=/nonexistent/altcha.key", "Chat:Limits:Challenge:KeyFile: '/nonexistent/altcha.key' does not exist")]
    [InlineData("", "--Chat:Limits:Challenge:Expiry=00:00:00", "Chat:Limits:Challenge:Expiry must be positive")]
    [InlineData("", "--Chat:Limits:Challenge:MaxNumber=0", "Chat:Limits:Challenge:MaxNumber")]
    [InlineData("broker", "--Chat:Cluster:GrpcUrl=http://10.255.255.1:18225", "Chat:Cluster:GrpcUrl: 'http://10.255.255.1:18225' listens beyond loopback, where plaintext gRPC and its shared secret are open to anyone on the network")]
    [InlineData("logic", "--Chat:Cluster:GrpcUrl=http://0.0.0.0:18223", "start with --insecure to accept that")]
    [InlineData("logic", "--Chat:Silo:AdvertisedAddress=10.255.255.1", "Chat:Silo:AdvertisedAddress: the silo port listens beyond loopback, where plain Orleans lets anyone who reaches it join the cluster")]
    [InlineData("broker", "--Chat:Cluster:GrpcUrl=https://127.0.0.1:18225", "is https://, which the gRPC port speaks only with certificates (Chat:Cluster:Tls)")]
    public async Task A_process_that_cannot_start_for_a_setting_says_why_in_one_line_and_exits_with_1(string role, string setting, string reason)
    {
        using var folder = TempFolder.Create("chat-refused-");
        string[] arguments =
        [
            ChatExecutable.Dll,
            .. role.Length > 0 ? new[] { role } : [],
            $"--urls=http://127.0.0.1:{LoopbackPort.Free()}",
            $"--Chat:Cluster:GrpcUrl=http://127.0.0.1:{LoopbackPort.Free()}",
            $"--Chat:Store:Path={folder.File("chat.db")}",
            setting,
        ];
        await using var chat = OwnedProcess.Start("chat", ChatExecutable.DotnetHost, arguments, new Dictionary<string, string> { ["Chat__Cluster__Secret"] = "a-secret-of-at-least-thirty-two-characters" });
        await chat.ExitedAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, chat.ExitCode);
        var said = chat.Output.Split('\n').Single(line => line.StartsWith("chat: cannot start: ", StringComparison.Ordinal));
        Assert.Contains(reason, said, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", chat.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("short-secret")]
    [InlineData("thirty-one-bytes-of-secret-text")]
    public async Task A_cluster_secret_shorter_than_32_bytes_is_refused_at_start(string secret)
    {
        var chat = await StartRefusedAsync("broker", [], secret);
        Assert.Contains($"Chat:Cluster:Secret: the cluster's secret is {secret.Length} bytes; it must be at least 32", chat, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Told_insecure_a_node_may_listen_beyond_loopback_without_TLS()
    {
        // 10.255.255.1 is no address of this machine: past the TLS rule, the start stops only where Kestrel cannot bind it.
        var said = await StartRefusedAsync("broker", ["--insecure", "--Chat:Cluster:GrpcUrl=http://10.255.255.1:18225"], "a-secret-of-at-least-thirty-two-characters");
        Assert.Contains("an address to listen on is not one of this machine's", said, StringComparison.Ordinal);
        Assert.DoesNotContain("beyond loopback", said, StringComparison.Ordinal);
    }

    /// <summary>Starts chat with the settings, expects it to stop at once with one <c>chat: cannot start:</c> line and exit status 1, and returns that line.</summary>
    private static async Task<string> StartRefusedAsync(string role, string[] settings, string secret)
    {
        using var folder = TempFolder.Create("chat-refused-");
        string[] arguments =
        [
            ChatExecutable.Dll,
            role,
            $"--urls=http://127.0.0.1:{LoopbackPort.Free()}",
            $"--Chat:Cluster:GrpcUrl=http://127.0.0.1:{LoopbackPort.Free()}",
            $"--Chat:Cluster:LogicAddresses=127.0.0.1:{LoopbackPort.Free()}",
            $"--Chat:Store:Path={folder.File("chat.db")}",
            .. settings,
        ];
        await using var chat = OwnedProcess.Start("chat", ChatExecutable.DotnetHost, arguments, new Dictionary<string, string> { ["Chat__Cluster__Secret"] = secret });
        await chat.ExitedAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, chat.ExitCode);
        Assert.DoesNotContain("Unhandled exception", chat.Output, StringComparison.Ordinal);
        return chat.Output.Split('\n').Single(line => line.StartsWith("chat: cannot start: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Help_explains_the_options()
    {
        var text = Chat.Host.CommandLine.HelpText;
        Assert.Contains("--store", text, StringComparison.Ordinal);
        Assert.Contains("Chat:Broker:SilenceTimeout", text, StringComparison.Ordinal);
        Assert.Contains("Chat:Limits:SocketsPerAddress", text, StringComparison.Ordinal);
        Assert.True(Chat.Host.CommandLine.WantsHelp(["--help"]));
        Assert.Equal("frobnicate", Chat.Host.CommandLine.UnknownRole(["frobnicate"]));
        Assert.Null(Chat.Host.CommandLine.UnknownRole(["--urls=http://127.0.0.1:1"]));
    }
}
