using Chat.Logic.Diagnostics;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Diagnostics;

/// <summary>
/// The live counts STATS_REQ answers with: any visitor may ask as often as its frame rate allows,
/// while a busy node's changes never stop, so however many ask the store counts once at a time.
/// </summary>
public sealed class LiveCountsTests
{
    [Fact]
    public async Task Asks_after_changes_while_a_read_is_in_flight_wait_for_one_read_after_it_not_a_read_each()
    {
        var store = new ReadCountingStore();
        var counts = new LiveCounts(store, new FakeTimeProvider(DateTimeOffset.UtcNow)); // a clock that stands still: a read stays fresh until a change
        store.HoldCounts();
        var first = counts.ReadAsync(CancellationToken.None).AsTask();
        await store.CountsHeld.WaitAsync(TestClient.Timeout);

        // While it is held, 50 changes, each followed by an ask: none of them may use the held read,
        // and none starts a read of its own beside it.
        var asks = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            counts.Changed();
            asks.Add(counts.ReadAsync(CancellationToken.None).AsTask());
        }

        Assert.Equal(1, store.CountReads);
        Assert.All(asks, ask => Assert.False(ask.IsCompleted));
        store.ReleaseCounts();
        await Task.WhenAll(asks).WaitAsync(TestClient.Timeout);
        await first;

        Assert.Equal(2, store.CountReads);
        Assert.Equal(1, store.MostCountReadsAtOnce);

        // No change since: the next ask is answered from the last read.
        await counts.ReadAsync(CancellationToken.None);
        Assert.Equal(2, store.CountReads);

        // A change: the next ask reads again, and sees it.
        counts.Changed();
        await counts.ReadAsync(CancellationToken.None);
        Assert.Equal(3, store.CountReads);
    }
}
