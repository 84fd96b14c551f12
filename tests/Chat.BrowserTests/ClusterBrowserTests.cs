using System.Diagnostics;
using System.Globalization;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Chat.BrowserTests;

/// <summary>
/// The web client against the cluster <c>deploy/local-cluster.sh</c> starts: nginx in front of two
/// brokers, two logic nodes on MariaDB, etcd. Two visitors chat through nginx while each broker in
/// turn is stopped as a service stop does it (SIGTERM): a page whose broker goes away reconnects
/// through nginx to the other one and resumes its account, and every message sent before, between
/// and after shows exactly once on both pages.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ClusterBrowserTests(BrowserFixture browser, ITestOutputHelper output)
{
    private static readonly LocatorAssertionsToHaveAttributeOptions ReconnectLimit = new() { Timeout = 30_000 };

    [Fact]
    public async Task Chat_through_nginx_goes_on_while_each_broker_in_turn_is_stopped_and_every_message_shows_once()
    {
        var clock = Stopwatch.StartNew();
        await using var cluster = await LocalCluster.UpAsync();
        output.WriteLine($"local-cluster.sh up: {clock.Elapsed.TotalSeconds:0.0} s");
        try
        {
            ExpectClusterEnvContract(cluster);
            await ChatWhileBrokersStopAsync(cluster);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"{ex.Message}\nThe cluster's logs:\n{cluster.Logs()}", ex);
        }
    }

    private async Task ChatWhileBrokersStopAsync(LocalCluster cluster)
    {
        await using var alice = await Visitor.OpenAsync(browser, cluster, "Alice");
        await using var bob = await Visitor.OpenAsync(browser, cluster, "Bob");
        await alice.EnterAsync();
        await alice.ExpectWaitingAsync();
        await bob.EnterAsync();
        await alice.ExpectChattingWithAsync("Bob");
        await bob.ExpectChattingWithAsync("Alice");

        await ExchangeAsync(alice, bob, "Hi Bob, before anything stops", "Hi Alice, me too");

        // Whoever was on broker 1 is told "service restart" (1012) and comes back through nginx,
        // which now has only broker 2 to offer.
        var clock = Stopwatch.StartNew();
        await cluster.TerminateAsync("broker1");
        output.WriteLine($"broker 1 stopped (SIGTERM) in {clock.Elapsed.TotalSeconds:0.0} s");
        clock.Restart();
        await ExchangeAsync(alice, bob, "Broker 1 is gone", "Still here");
        output.WriteLine($"a message each way after broker 1 stopped: {clock.Elapsed.TotalSeconds:0.0} s");

        var stoppedPid = cluster.Pid("broker1");
        clock.Restart();
        await cluster.StartAsync("broker1");
        output.WriteLine($"broker 1 started again and ready in {clock.Elapsed.TotalSeconds:0.0} s");
        // cluster.env was rewritten with the new process's PID, in both places it is named.
        Assert.NotEqual(stoppedPid, cluster.Pid("broker1"));
        Assert.Equal(cluster.Env("BROKER1_PID"), cluster.List("BROKER_PIDS")[0]);

        // Both pages are on broker 2 now: stopping it moves both of them, to broker 1.
        var aliceReconnects = await ReconnectsAsync(alice);
        var bobReconnects = await ReconnectsAsync(bob);
        clock.Restart();
        await cluster.TerminateAsync("broker2");
        await Expect(alice.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", Count(aliceReconnects + 1), ReconnectLimit);
        await Expect(bob.Page.Locator("body")).ToHaveAttributeAsync("data-reconnects", Count(bobReconnects + 1), ReconnectLimit);
        output.WriteLine($"both pages resumed on broker 1 {clock.Elapsed.TotalSeconds:0.0} s after SIGTERM to broker 2");
        await ExchangeAsync(alice, bob, "Broker 2 is gone too", "And we are still talking");

        string[] fromAlice = ["Hi Bob, before anything stops", "Broker 1 is gone", "Broker 2 is gone too"];
        string[] fromBob = ["Hi Alice, me too", "Still here", "And we are still talking"];
        await Expect(alice.OwnMessages.Locator(".text")).ToHaveTextAsync(fromAlice);
        await Expect(alice.PartnerMessages.Locator(".text")).ToHaveTextAsync(fromBob);
        await Expect(bob.OwnMessages.Locator(".text")).ToHaveTextAsync(fromBob);
        await Expect(bob.PartnerMessages.Locator(".text")).ToHaveTextAsync(fromAlice);
        foreach (var visitor in (Visitor[])[alice, bob])
        {
            // Every message of their own stored by the server (✓ or ✓✓), none left waiting to be sent.
            await Expect(visitor.Page.Locator(".log:not([hidden]) .msg.own:not([data-status='sent']):not([data-status='read'])")).ToHaveCountAsync(0);
            await Expect(visitor.Banner).ToBeHiddenAsync();
            await Expect(visitor.PartnerTitle).ToHaveTextAsync(visitor == alice ? "Bob" : "Alice");
            Assert.Empty(visitor.Dialogs);
            Assert.Empty(visitor.PageErrors);
        }
    }

    /// <summary>What people and tests read from cluster.env after <c>up</c> is all there, consistent, and readable by its owner only.</summary>
    private static void ExpectClusterEnvContract(LocalCluster cluster)
    {
        foreach (var name in LocalCluster.ContractNames)
        {
            Assert.NotEmpty(cluster.Env(name));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, cluster.EnvFileMode);
        Assert.Equal(cluster.Env("CHAT_URL"), cluster.Env("FRONT_URL"));
        Assert.Equal(
            [$"ws://127.0.0.1:{cluster.Env("BROKER1_HTTP_PORT")}/ws", $"ws://127.0.0.1:{cluster.Env("BROKER2_HTTP_PORT")}/ws"],
            cluster.List("BROKER_URLS"));
        Assert.Equal([cluster.Env("BROKER1_PID"), cluster.Env("BROKER2_PID")], cluster.List("BROKER_PIDS"));
        Assert.Equal([cluster.Env("LOGIC1_PID"), cluster.Env("LOGIC2_PID")], cluster.List("LOGIC_PIDS"));
        Assert.Equal(
            [$"127.0.0.1:{cluster.Env("LOGIC1_GRPC_PORT")}", $"127.0.0.1:{cluster.Env("LOGIC2_GRPC_PORT")}"],
            cluster.List("LOGIC_GRPC"));
        Assert.Equal(
            [$"http://127.0.0.1:{cluster.Env("LOGIC1_HTTP_PORT")}", $"http://127.0.0.1:{cluster.Env("LOGIC2_HTTP_PORT")}"],
            cluster.List("LOGIC_HTTP"));
        Assert.Equal($"https://127.0.0.1:{cluster.Env("ETCD_PORT")}", cluster.Env("ETCD_URL"));

        // The cluster runs on TLS: its CA and each node's certificate and key are where cluster.env says, the keys readable by their owner only.
        Assert.Equal(Path.Combine(cluster.Env("TLS_DIR"), "ca.pem"), cluster.Env("TLS_CA"));
        Assert.True(File.Exists(cluster.Env("TLS_CA")));
        foreach (var node in new[] { "logic1", "logic2", "broker1", "broker2" })
        {
            Assert.True(File.Exists(Path.Combine(cluster.Env("TLS_DIR"), node + ".pem")), node);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, LocalCluster.ModeOf(Path.Combine(cluster.Env("TLS_DIR"), node + ".key")));
        }

        Assert.False(File.Exists(Path.Combine(cluster.Env("CLUSTER_DIR"), "secrets", "cluster-secret")), "a cluster on TLS needs no shared secret");
    }

    /// <summary>One message each way; each side sees the other's.</summary>
    private static async Task ExchangeAsync(Visitor alice, Visitor bob, string fromAlice, string fromBob)
    {
        await alice.SayAsync(fromAlice);
        await bob.ExpectToReceiveAsync(fromAlice);
        await bob.SayAsync(fromBob);
        await alice.ExpectToReceiveAsync(fromBob);
    }

    /// <summary>How often the page has resumed its account after a lost socket so far.</summary>
    private static async Task<int> ReconnectsAsync(Visitor visitor) =>
        await visitor.Page.Locator("body").GetAttributeAsync("data-reconnects") is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : 0;

    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
}
