using Chat.Logic.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Storage;

/// <summary>While the database cannot be reached, the store tries about once a second instead of once per call, and finds it again by itself.</summary>
public sealed class StoreBreakerTests
{
    [Fact]
    public void After_a_failure_calls_fail_at_once_for_a_pause_that_doubles_up_to_a_second_and_a_success_closes_it()
    {
        var clock = new FakeTimeProvider();
        var breaker = new StoreBreaker(clock);
        breaker.ThrowIfOpen();

        var pauses = new List<int>();
        for (var failure = 0; failure < 6; failure++)
        {
            breaker.Failed();
            pauses.Add(MillisecondsOpen(breaker, clock));
        }

        Assert.Equal([100, 200, 400, 800, 1000, 1000], pauses);
        breaker.Succeeded();
        breaker.ThrowIfOpen();
        breaker.Failed();
        Assert.Equal(100, MillisecondsOpen(breaker, clock)); // a success starts the pauses over
    }

    /// <summary>How long the breaker keeps refusing, in 10 ms steps of the clock.</summary>
    private static int MillisecondsOpen(StoreBreaker breaker, FakeTimeProvider clock)
    {
        var open = 0;
        while (true)
        {
            try
            {
                breaker.ThrowIfOpen();
                return open;
            }
            catch (StoreUnavailableException)
            {
                clock.Advance(TimeSpan.FromMilliseconds(10));
                open += 10;
            }
        }
    }
}
