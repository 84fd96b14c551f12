using Chat.Bench.Scenarios;
using Chat.Testing;
using Chat.Testing.Servers;

namespace Chat.Bench.Tests;

/// <summary>The bench's chat scenario against the real all-in-one server, in-process, on a fresh store.</summary>
public sealed class ServerSmokeTests
{
    private static Task<ChatServer> StartServerAsync(params string[] settings) => ChatServer.StartAsync(
        [
            // The smoke run sends faster than a person types; the abuse limit is not what it tests.
            "Chat:Broker:RateLimit:PerSecond=100000",
            "Chat:Broker:RateLimit:Burst=100000",
            .. settings,
        ]);

    [Fact]
    public async Task Chat_scenario_delivers_every_message_once_in_order()
    {
        await using var server = await StartServerAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await ChatScenario.RunAsync(SmokeRun.Options(server.WebSocketUri), timeout.Token);

        SmokeRun.AssertEveryMessageDelivered(result);
    }

    [Fact]
    public async Task With_the_limits_on_visitors_spread_over_loopback_addresses_chat_as_without()
    {
        // bench/run.sh's server-limits target: the shipped per-address limits, each visitor from an address of its own.
        await using var server = await StartServerAsync(LimitSettings.Shipped);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await ChatScenario.RunAsync(SmokeRun.Options(server.WebSocketUri) with { SourceAddresses = 300 }, timeout.Token);

        SmokeRun.AssertEveryMessageDelivered(result);
    }

    [Fact]
    public async Task With_the_limits_on_visitors_from_one_address_are_refused()
    {
        // The same run from one address: the sixth account of the minute needs a challenge the bench does not solve.
        await using var server = await StartServerAsync(LimitSettings.Shipped);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => ChatScenario.RunAsync(SmokeRun.Options(server.WebSocketUri) with { SourceAddresses = 1 }, timeout.Token));
        Assert.Contains("got code 6", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_loop_delivers_every_message_once_in_order()
    {
        await using var server = await StartServerAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var options = SmokeRun.Options(server.WebSocketUri) with { Rate = 50, Messages = 20 };
        var result = await ChatScenario.RunAsync(options, timeout.Token);

        SmokeRun.AssertEveryMessageDelivered(result, messagesPerVisitor: 20);
    }

    [Fact]
    public async Task A_crowd_at_a_human_pace_types_chats_and_reads_as_pages_do()
    {
        await using var server = await StartServerAsync("Chat:Broker:PingInterval=00:00:00.5");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await CrowdScenario.RunAsync(SmokeRun.Crowd(server.WebSocketUri), timeout.Token);

        SmokeRun.AssertTheCrowdBehavedAsPages(result);
    }

    [Fact]
    public async Task Match_storm_pairs_each_visitor_once()
    {
        await using var server = await StartServerAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await MatchStormScenario.RunAsync(
            new MatchStormOptions { Server = server.WebSocketUri, Visitors = 40, ReplyTimeout = TimeSpan.FromSeconds(30) },
            timeout.Token);

        Assert.Equal(0, result.Unpaired);
        Assert.Equal(0, result.PairedMoreThanOnce);
        Assert.Equal(0, result.PartnersDisagree);
        Assert.Equal(20, result.Sessions);
    }

    [Fact]
    public async Task A_warmed_match_storm_pairs_the_warm_up_crowd_then_the_measured_one()
    {
        await using var server = await StartServerAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await MatchStormScenario.RunAsync(
            new MatchStormOptions { Server = server.WebSocketUri, Visitors = 40, Warmup = 20, ReplyTimeout = TimeSpan.FromSeconds(30) },
            timeout.Token);

        Assert.True(result.WarmupClean);
        Assert.True(result.WarmupPairAllSeconds > 0);
        Assert.Equal(0, result.Unpaired);
        Assert.Equal(0, result.PairedMoreThanOnce);
        Assert.Equal(20, result.Sessions); // the measured storm's sessions only
        Assert.True(result.Clean);
    }
}
