using Chat.Bench.Scenarios;
using Chat.Relay;
using Microsoft.AspNetCore.Builder;

namespace Chat.Bench.Tests;

/// <summary>The bench's chat scenario against the reference relay, on a free port, in-process.</summary>
public sealed class RelaySmokeTests
{
    [Fact]
    public async Task Chat_scenario_delivers_every_message_once_in_order()
    {
        await using var relay = RelayApp.Build(port: 0);
        await relay.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await ChatScenario.RunAsync(SmokeRun.Options(SmokeRun.WebSocketUri(relay.Urls)), timeout.Token);

        SmokeRun.AssertEveryMessageDelivered(result);
    }

    [Fact]
    public async Task Open_loop_delivers_every_message_once_in_order()
    {
        await using var relay = RelayApp.Build(port: 0);
        await relay.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var options = SmokeRun.Options(SmokeRun.WebSocketUri(relay.Urls)) with { Rate = 50, Messages = 20 };
        var result = await ChatScenario.RunAsync(options, timeout.Token);

        SmokeRun.AssertEveryMessageDelivered(result, messagesPerVisitor: 20);
    }

    [Fact]
    public async Task A_crowd_at_a_human_pace_types_chats_and_reads_as_pages_do()
    {
        await using var relay = RelayApp.Build(port: 0, pingInterval: TimeSpan.FromMilliseconds(500));
        await relay.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await CrowdScenario.RunAsync(SmokeRun.Crowd(SmokeRun.WebSocketUri(relay.Urls)), timeout.Token);

        SmokeRun.AssertTheCrowdBehavedAsPages(result);
    }

    [Fact]
    public async Task Match_storm_pairs_each_visitor_once()
    {
        await using var relay = RelayApp.Build(port: 0);
        await relay.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var result = await MatchStormScenario.RunAsync(
            new MatchStormOptions { Server = SmokeRun.WebSocketUri(relay.Urls), Visitors = 40, ReplyTimeout = TimeSpan.FromSeconds(30) },
            timeout.Token);

        Assert.Equal(0, result.Unpaired);
        Assert.Equal(0, result.PairedMoreThanOnce);
        Assert.Equal(0, result.PartnersDisagree);
        Assert.Equal(20, result.Sessions);
    }
}
