using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Chat.Logic.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Registry;

namespace Chat.Tests.Storage;

/// <summary>
/// While the database cannot be reached, the store tries about once a second instead of once per
/// call, and finds it again by itself; the breaker's state changes are metrics.
/// </summary>
public sealed class StoreResilienceTests
{
    [Fact]
    public void After_a_failure_to_reach_the_database_calls_fail_at_once_for_a_pause_that_doubles_up_to_a_second_and_a_success_closes_it()
    {
        var clock = new FakeTimeProvider();
        var breaker = StoreResilience.Build(clock);
        Succeed(breaker); // the store was working: the first failure opens the breaker

        Fail(breaker);
        var pauses = new List<int>();
        for (var tries = 0; tries < 6; tries++)
        {
            pauses.Add(MillisecondsUntilTried(breaker, clock, succeeds: false)); // the call let through fails too: open again, longer
        }

        Assert.Equal([100, 200, 400, 800, 1000, 1000], pauses);
        Assert.Equal(1000, MillisecondsUntilTried(breaker, clock, succeeds: true));
        Succeed(breaker);
        Fail(breaker);
        Assert.Equal(100, MillisecondsUntilTried(breaker, clock, succeeds: false)); // a success starts the pauses over
    }

    [Fact]
    public void Only_a_database_that_cannot_be_reached_opens_the_breaker()
    {
        var clock = new FakeTimeProvider();
        var breaker = StoreResilience.Build(clock);
        Succeed(breaker);

        for (var i = 0; i < 5; i++)
        {
            // The database answered, and failed the transaction (a deadlock): the next call still tries.
            Assert.Throws<StoreUnavailableException>(() => breaker.Run(static _ => throw new StoreUnavailableException("deadlock (test)", unreachable: false), 0));
        }

        Succeed(breaker);
    }

    [Fact]
    public void When_the_store_was_never_reached_a_second_failure_opens_the_breaker()
    {
        var breaker = StoreResilience.Build(new FakeTimeProvider());

        Fail(breaker);
        Fail(breaker); // Polly judges from two calls on: this one was still tried
        Assert.Contains("not trying again yet", Assert.Throws<StoreUnavailableException>(() => breaker.Run(static _ => { }, 0)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_breaker_opening_is_a_metric_of_the_stores_pipeline()
    {
        var clock = new FakeTimeProvider();
        using var services = new ServiceCollection().AddMetrics().AddLogging().AddSingleton<TimeProvider>(clock).AddStoreResilience().BuildServiceProvider();
        var events = new ConcurrentQueue<(string? Event, string? Pipeline)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Polly" && instrument.Name == "resilience.polly.strategy.events")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, _, tags, _) =>
        {
            var all = tags.ToArray();
            string? Tag(string name) => all.FirstOrDefault(t => t.Key == name).Value?.ToString();
            events.Enqueue((Tag("event.name"), Tag("pipeline.name")));
        });
        listener.Start();
        var breaker = services.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(StoreResilience.PipelineName);

        Succeed(breaker);
        Fail(breaker);

        Assert.Contains(("OnCircuitOpened", StoreResilience.PipelineName), events);
        clock.Advance(TimeSpan.FromSeconds(1));
        Succeed(breaker);
        Assert.Contains(("OnCircuitClosed", StoreResilience.PipelineName), events);
    }

    private static void Succeed(ResiliencePipeline breaker) => breaker.Run(static _ => { }, 0);

    private static void Fail(ResiliencePipeline breaker)
    {
        var failure = Assert.Throws<StoreUnavailableException>(() => breaker.Run(static _ => throw new StoreUnavailableException("unreachable (test)"), 0));
        Assert.Equal("unreachable (test)", failure.Message); // tried, not refused by the breaker
    }

    /// <summary>How long the breaker refuses calls, in 10 ms steps of the clock, until it lets one through (which then fails or succeeds).</summary>
    private static int MillisecondsUntilTried(ResiliencePipeline breaker, FakeTimeProvider clock, bool succeeds)
    {
        for (var open = 0; ; open += 10)
        {
            try
            {
                breaker.Run(static fail => { if (fail) throw new StoreUnavailableException("unreachable (test)"); }, !succeeds);
                return open;
            }
            catch (StoreUnavailableException ex) when (ex.Message == "unreachable (test)")
            {
                return open;
            }
            catch (StoreUnavailableException)
            {
                clock.Advance(TimeSpan.FromMilliseconds(10)); // refused without trying
            }
        }
    }
}
