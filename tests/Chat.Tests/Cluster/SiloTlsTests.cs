using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Chat.Testing;
using Chat.Testing.Cluster;
using Chat.Testing.Databases;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;
using Chat.Tests.Infrastructure;
using MySqlConnector;
using Xunit.Abstractions;

namespace Chat.Tests.Cluster;

/// <summary>
/// TLS between logic nodes (<c>Chat:Silo:Tls</c>): the real host code on a real MariaDB membership
/// table, with a CA, node certificates and a stranger's certificate made by the test.
/// </summary>
public sealed class SiloTlsTests(ITestOutputHelper output)
{
    private const int Active = 3, Dead = 6;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Logic_nodes_with_certificates_from_the_cluster_CA_form_one_cluster_and_a_node_with_a_stranger_certificate_cannot_join()
    {
        using var folder = TempFolder.Create("chat-silo-tls-");
        using var authority = TestCertificates.CreateAuthority("chat cluster CA");
        using var certificateA = TestCertificates.IssueNode(authority, "logic-a");
        using var certificateB = TestCertificates.IssueNode(authority, "logic-b");
        using var strangerCertificate = TestCertificates.SelfSignedNode("logic-c");
        var ca = TestCertificates.WritePem(folder.File("ca.pem"), authority);
        var pfxA = TestCertificates.WritePfx(certificateA, folder.File("logic-a.pfx"));
        var pfxB = TestCertificates.WritePfx(certificateB, folder.File("logic-b.pfx"), password: "b's password");
        await File.WriteAllTextAsync(folder.File("logic-b.password"), "b's password\n");
        var strangerPfx = TestCertificates.WritePfx(strangerCertificate, folder.File("stranger.pfx"));

        // The stranger trusts the cluster's CA as well as itself, so any refusal seen is the cluster's, not its own.
        var strangerTrusts = TestCertificates.WritePem(folder.File("stranger-trusts.pem"), strangerCertificate, authority);

        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        var (portA, portB, portC) = (LoopbackPort.Free(), LoopbackPort.Free(), LoopbackPort.Free());
        var clock = Stopwatch.StartNew();
        await using var logicA = await ChatNode.StartLogicAsync(LogicSettings(database, portA, pfxA, ca));
        await using var logicB = await ChatNode.StartLogicAsync([.. LogicSettings(database, portB, pfxB, ca), $"Chat:Silo:Tls:CertificatePasswordFile={folder.File("logic-b.password")}"]);
        output.WriteLine($"two logic nodes up in {clock.Elapsed.TotalSeconds:0.0} s; silo ports A {portA}, B {portB}, stranger {portC}");

        // B became Active only after pinging A (Orleans' join check), over TLS both ways.
        Assert.Equivalent(new[] { (portA, Active), (portB, Active) }, await MembersAsync(database), strict: true);

        // The silo port speaks TLS and only to the cluster's certificates: plain Orleans, no certificate or the stranger's are cut off.
        Assert.True(await SiloAcceptsAsync(portA, certificateB, authority), "a node certificate from the cluster's CA is refused");
        Assert.False(await SiloAcceptsAsync(portA, clientCertificate: null, authority), "a TLS client without a certificate was let in");
        Assert.False(await SiloAcceptsAsync(portA, strangerCertificate, authority), "the stranger's certificate was let in");
        Assert.True(await ClosesPlainTextAsync(portB), "the silo port answered plain text");

        // Brokers pointed at different nodes: their visitors meet at one matchmaker grain, which needs the silos to talk.
        await using var brokerA = await ChatNode.StartBrokerAsync([logicA.GrpcAddress]);
        await using var brokerB = await ChatNode.StartBrokerAsync([logicB.GrpcAddress]);
        await Task.WhenAll(brokerA.WaitUntilReadyAsync(), brokerB.WaitUntilReadyAsync());
        await ChatAcrossAsync(brokerA, brokerB, "alice", "bob");

        // The stranger has the database, so it writes itself into the membership table, but not the CA: the active
        // nodes cannot reach it to check it, declare it dead, and a silo that learns it is dead ends its process
        // (which is why it runs as a child, while the cluster's own nodes run in this process).
        clock.Restart();
        await using var stranger = OwnedProcess.Start("stranger", ChatExecutable.DotnetHost, StrangerArguments(portC, strangerPfx, strangerTrusts), new Dictionary<string, string>
        {
            ["Chat__Cluster__Secret"] = ChatNode.Secret,
            ["Chat__Store__ConnectionString"] = database.ConnectionString,
        });
        var exited = stranger.ExitedAsync(Limit);
        var strangerStatuses = await StatusesUntilAsync(database, portC, exited);
        await exited;
        output.WriteLine($"the stranger ended by itself after {clock.Elapsed.TotalSeconds:0.0} s; its statuses in the membership table: [{string.Join(", ", strangerStatuses.Distinct())}]");
        Assert.DoesNotContain(Active, strangerStatuses);
        Assert.Equal(Dead, strangerStatuses.LastOrDefault());

        // The cluster it tried to join works on, as before.
        Assert.Equivalent(new[] { (portA, Active), (portB, Active) }, (await MembersAsync(database)).Where(member => member.Port != portC), strict: true);
        await ChatAcrossAsync(brokerA, brokerB, "carol", "dave");
    }

    [Theory]
    [InlineData("missing-certificate", "Chat:Silo:Tls:CertificatePath: no file at")]
    [InlineData("no-ca", "Chat:Silo:Tls:CaPath: not set")]
    [InlineData("missing-ca", "Chat:Silo:Tls:CaPath: no file at")]
    [InlineData("wrong-password", "Chat:Silo:Tls:CertificatePath: '")]
    [InlineData("missing-password-file", "Chat:Silo:Tls:CertificatePasswordFile: no file at")]
    [InlineData("certificate-from-another-ca", "does not chain to the CA")]
    public async Task A_misconfigured_TLS_setting_stops_the_start_and_says_which_and_why(string mistake, string message)
    {
        using var folder = TempFolder.Create("chat-silo-tls-");
        using var authority = TestCertificates.CreateAuthority("chat cluster CA");
        using var node = TestCertificates.IssueNode(authority, "logic-a");
        using var stranger = TestCertificates.SelfSignedNode("logic-c");
        var ca = TestCertificates.WritePem(folder.File("ca.pem"), authority);
        var pfx = TestCertificates.WritePfx(node, folder.File("logic-a.pfx"), password: "right");
        await File.WriteAllTextAsync(folder.File("right.password"), "right\n");
        await File.WriteAllTextAsync(folder.File("wrong.password"), "wrong\n");
        string[] settings = mistake switch
        {
            "missing-certificate" => [$"Chat:Silo:Tls:CertificatePath={folder.File("nope.pfx")}", $"Chat:Silo:Tls:CaPath={ca}"],
            "no-ca" => [$"Chat:Silo:Tls:CertificatePath={pfx}", $"Chat:Silo:Tls:CertificatePasswordFile={folder.File("right.password")}"],
            "missing-ca" => [$"Chat:Silo:Tls:CertificatePath={pfx}", $"Chat:Silo:Tls:CertificatePasswordFile={folder.File("right.password")}", $"Chat:Silo:Tls:CaPath={folder.File("nope.pem")}"],
            "wrong-password" => [$"Chat:Silo:Tls:CertificatePath={pfx}", $"Chat:Silo:Tls:CertificatePasswordFile={folder.File("wrong.password")}", $"Chat:Silo:Tls:CaPath={ca}"],
            "missing-password-file" => [$"Chat:Silo:Tls:CertificatePath={pfx}", $"Chat:Silo:Tls:CertificatePasswordFile={folder.File("nope.password")}", $"Chat:Silo:Tls:CaPath={ca}"],
            "certificate-from-another-ca" => [$"Chat:Silo:Tls:CertificatePath={TestCertificates.WritePfx(stranger, folder.File("stranger.pfx"))}", $"Chat:Silo:Tls:CaPath={ca}"],
            _ => throw new ArgumentOutOfRangeException(nameof(mistake)),
        };

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => ChatNode.StartLogicAsync(settings));
        output.WriteLine(failure.Message);
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    private static string[] LogicSettings(MariaDbDatabase database, int siloPort, string certificate, string ca) =>
    [
        "Chat:Store:Kind=mariadb",
        $"Chat:Store:ConnectionString={database.ConnectionString}",
        $"Chat:Silo:Port={siloPort}",
        $"Chat:Silo:Tls:CertificatePath={certificate}",
        $"Chat:Silo:Tls:CaPath={ca}",
    ];

    private static string[] StrangerArguments(int siloPort, string certificate, string trusts) =>
    [
        ChatExecutable.Dll,
        "logic",
        $"--urls=http://127.0.0.1:{LoopbackPort.Free()}",
        $"--Chat:Cluster:GrpcUrl=http://127.0.0.1:{LoopbackPort.Free()}",
        "--Logging:LogLevel:Default=Warning",
        "--Chat:Store:Kind=mariadb",
        $"--Chat:Silo:Port={siloPort}",
        $"--Chat:Silo:Tls:CertificatePath={certificate}",
        $"--Chat:Silo:Tls:CaPath={trusts}",
    ];

    /// <summary>
    /// The statuses the silo on <paramref name="port"/> has in the membership table until <paramref name="until"/>
    /// ends, then once more: an outsider sees a join only there.
    /// </summary>
    private static async Task<List<int>> StatusesUntilAsync(MariaDbDatabase database, int port, Task until)
    {
        var statuses = new List<int>();
        while (true)
        {
            var ended = until.IsCompleted;
            statuses.AddRange((await MembersAsync(database)).Where(member => member.Port == port).Select(member => member.Status));
            if (ended)
            {
                return statuses;
            }

            await Task.WhenAny(until, Task.Delay(100));
        }
    }

    private static async Task<List<(int Port, int Status)>> MembersAsync(MariaDbDatabase database)
    {
        await using var connection = new MySqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand("SELECT Port, Status FROM OrleansMembershipTable ORDER BY Port, Generation;", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var members = new List<(int, int)>();
        while (await reader.ReadAsync())
        {
            members.Add((reader.GetInt32(0), reader.GetInt32(1)));
        }

        return members;
    }

    /// <summary>
    /// Dials the silo port as a TLS client with <paramref name="clientCertificate"/>. The silo answers a
    /// connection it takes with Orleans' preamble; one it refuses ends in an alert or a close.
    /// </summary>
    private static async Task<bool> SiloAcceptsAsync(int port, X509Certificate2? clientCertificate, X509Certificate2 authority)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Limit);
        // The test has no name to check the silo by; that it shows a certificate from the cluster's CA is checked below.
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, _) => certificate is not null);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "logic",
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                ApplicationProtocols = [new SslApplicationProtocol("Orleans1")],
            }).WaitAsync(Limit);
            var buffer = new byte[1];
            var read = await tls.ReadAsync(buffer).AsTask().WaitAsync(Limit);
            if (read == 0)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return false;
        }

        // What the silo showed is a certificate from the cluster's CA too.
        Assert.Equal(authority.Subject, tls.RemoteCertificate?.Issuer);
        return true;
    }

    /// <summary>Writes what a plain-text Orleans peer would and sees the silo hang up without answering.</summary>
    private static async Task<bool> ClosesPlainTextAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Limit);
        var stream = tcp.GetStream();
        await stream.WriteAsync(new byte[64]).AsTask().WaitAsync(Limit); // not a TLS ClientHello: a plain Orleans peer starts with its preamble's length
        try
        {
            var buffer = new byte[256];
            return await stream.ReadAsync(buffer).AsTask().WaitAsync(Limit) == 0;
        }
        catch (IOException)
        {
            return true; // reset
        }
    }

    private static async Task ChatAcrossAsync(ChatNode brokerOne, ChatNode brokerTwo, string first, string second)
    {
        var (a, b, sessionId) = await Pairing.PairAsync(VisitorAsync(brokerOne, first), VisitorAsync(brokerTwo, second));
        await using var _ = a;
        await using var __ = b;
        Assert.Equal(0, (await a.SayAsync(sessionId, $"hello from {first}")).Code());
        Assert.Equal($"hello from {first}", (await b.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        Assert.Equal(0, (await b.SayAsync(sessionId, $"hello from {second}")).Code());
        Assert.Equal($"hello from {second}", (await a.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }

    private static async Task<TestClient> VisitorAsync(ChatNode broker, string nickName)
    {
        var client = await TestClient.ConnectAsync(broker.WebSocketUri);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }
}
