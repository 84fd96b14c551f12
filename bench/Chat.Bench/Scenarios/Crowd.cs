using Chat.Bench.Connections;

namespace Chat.Bench.Scenarios;

/// <summary>The visitors of one run: they arrive (socket + account), get matched, and leave.</summary>
public sealed class Crowd(VisitorConnector connector, Traffic traffic, int count, int receiveBufferBytes = 4096) : IAsyncDisposable
{
    public Visitor[] Visitors { get; } = [.. Enumerable.Range(0, count).Select(i => new Visitor(i, connector, traffic, receiveBufferBytes))];

    /// <summary>Opens every socket and creates an account on it, <paramref name="concurrency"/> at a time.</summary>
    public async Task ArriveAsync(int concurrency, TimeSpan replyTimeout, CancellationToken cancellationToken)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Visitors, options, async (visitor, ct) =>
        {
            await visitor.ConnectAsync(ct);
            var reply = await visitor.CreateAccountAsync($"bench{visitor.Index}", replyTimeout, ct);
            if (reply.Code != 0)
            {
                throw new InvalidOperationException($"CRT_ACCOUNT_REQ of visitor {visitor.Index} got code {reply.Code}");
            }
        });
    }

    /// <summary>Every visitor asks to be matched; returns when all are paired or the timeout passed.</summary>
    public async Task MatchAsync(int concurrency, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Visitors, options, async (visitor, ct) =>
        {
            var reply = await visitor.MatchAsync(timeout, ct);
            if (reply.Code is not (0 or 4))
            {
                throw new InvalidOperationException($"MATCH_REQ of visitor {visitor.Index} got code {reply.Code}");
            }
        });
        await WhenPairedAsync(timeout, cancellationToken);
    }

    public async Task<bool> WhenPairedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(Visitors.Select(v => v.Paired)).WaitAsync(timeout, cancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = 256 };
        await Parallel.ForEachAsync(Visitors, options, async (visitor, _) =>
        {
            await visitor.CloseAsync(TimeSpan.FromSeconds(5));
            visitor.Dispose();
        });
    }
}
