using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Chat.Logic.Moderation;
using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Chat.Tests.Cluster;

/// <summary>
/// A ban on the distributed `chat` (MariaDB, etcd, two logic nodes, two brokers as child processes,
/// TLS between them): made through one logic node's operator API, it closes the banned address's
/// sockets on both brokers (ERROR_RESP code 7, close 4003), and a report made through one broker
/// keeps the two apart whichever node the next match goes through.
/// </summary>
public sealed partial class BansClusterTests(ITestOutputHelper output)
{
    private static readonly (string Token, string Line) Operator = OperatorOptions.NewToken("ops");

    [Fact]
    public async Task A_ban_closes_the_address_sockets_on_both_brokers_and_a_report_keeps_the_pair_apart_on_every_node()
    {
        await using var cluster = await ProcessCluster.StartAsync(2, 2,
            "Chat:Operator:Url=http://127.0.0.1:0",
            "Logging:LogLevel:Chat.Host.Hosting.OperatorServer=Information", // the line that says where it listens
            $"Chat:Operator:Tokens:ops={Operator.Line[(Operator.Line.IndexOf('=') + 1)..]}",
            "Chat:Broker:Upstream:CallTimeout=00:00:30");
        const string Banned = "203.0.113.77";
        await using var onFirst = await VisitorAsync(cluster, 0, Banned, "a");
        await using var onSecond = await VisitorAsync(cluster, 1, Banned, "b");

        // A report through the second broker: the pair is kept apart for the matchmaker, wherever asked.
        await using var reporter = await VisitorAsync(cluster, 1, "198.51.100.77", "r");
        Assert.Equal(4, (await MatchAsync(onFirst)).Code());
        var matched = await MatchAsync(reporter);
        Assert.Equal(0, matched.Code());
        var sessionId = matched.ULong("sessionId");
        Assert.Equal(0, (await reporter.RequestAsync(new { cmd = "REPORT_REQ", sessionId, reason = "harassment" }, "REPORT_RESP")).Code());
        await onFirst.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(4, (await MatchAsync(reporter)).Code()); // through both logic nodes in turn: never paired with onFirst
        }

        using var api = new HttpClient { BaseAddress = OperatorAddress(cluster.Logic[0].Output), Timeout = TestClient.Timeout };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Operator.Token);
        var clock = Stopwatch.StartNew();
        var made = await api.PostAsJsonAsync("/api/bans", new { target = "address", value = Banned, minutes = 30, reason = "flooding" });
        Assert.Equal(System.Net.HttpStatusCode.Created, made.StatusCode);
        foreach (var banned in new[] { onFirst, onSecond })
        {
            var notice = await banned.ExpectAsync("ERROR_RESP", f => f.Code() == 7);
            Assert.Contains("flooding", notice.String("msg"), StringComparison.Ordinal);
            Assert.Equal((WebSocketCloseStatus)4003, await banned.Closed.WaitAsync(TestClient.Timeout));
        }

        output.WriteLine($"both brokers closed the banned sockets {clock.ElapsedMilliseconds} ms after the ban was made (target: within 2 s)");
        await using var again = await ConnectAsync(cluster, 1, Banned);
        Assert.Equal((WebSocketCloseStatus)4003, await again.Closed.WaitAsync(TestClient.Timeout));
        await using var fine = await VisitorAsync(cluster, 0, "192.0.2.177", "fine"); // everyone else is unaffected
    }

    private static Uri OperatorAddress(string output) =>
        new(ListeningLine().Match(output) is { Success: true } found ? found.Groups[1].Value : throw new InvalidOperationException("the logic node did not say where its operator API listens:\n" + output));

    [GeneratedRegex(@"Operator API listening on (http://127\.0\.0\.1:[0-9]+/?)")]
    private static partial Regex ListeningLine();

    private static Task<TestClient> ConnectAsync(ProcessCluster cluster, int broker, string address) =>
        TestClient.ConnectAsync(cluster.Brokers[broker].WebSocketUri, null, ("X-Forwarded-For", address));

    private static async Task<TestClient> VisitorAsync(ProcessCluster cluster, int broker, string address, string nickName)
    {
        var client = await ConnectAsync(cluster, broker, address);
        Assert.Equal(0, (await client.CreateAccountAsync(nickName)).Code());
        return client;
    }

    private static Task<Frame> MatchAsync(TestClient client) => client.RequestAsync(new { cmd = "MATCH_REQ" }, "MATCH_RESP");
}
