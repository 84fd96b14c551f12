using System.Threading.Channels;
using Chat.Logic.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Storage;

/// <summary>
/// Group commit: every write to the store goes through one queue, and the writes that are waiting
/// when the previous commit finishes are committed together in one transaction. Throughput then
/// follows the CPU rather than fsync latency. Writes commit in the order they were queued (a
/// session's messages rely on it: their ids rise in queue order). Nothing runs on this loop but
/// the store's own work: whoever waits for a commit continues elsewhere, so a slow push or a read
/// never holds up the commits of other sessions.
/// </summary>
/// <remarks>
/// The loop has a thread of its own. Every message passes through it, so it must not wait in the
/// thread pool's queue behind the very reads that feed it: under a burst that queue is long, and a
/// loop that is a pool work item falls further behind the more work there is (docs/benchmarks.md).
/// Its store calls block, too (SQLite writes are synchronous), which a pool thread should not.
/// </remarks>
internal partial class StoreWriter(IChatStore store, IOptions<StoreOptions> options, LogicMetrics metrics, TimeProvider time, ILogger<StoreWriter> logger) : BackgroundService
{
    // Synchronous continuations: a writer that finds the loop asleep wakes its thread directly,
    // with no pool work item in between.
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });

    private readonly int _maxBatch = options.Value.MaxBatch;

    /// <summary>Queues a write; the task completes when it is committed.</summary>
    public Task WriteAsync(StoreWrite write)
    {
        var pending = new PendingWrite(write);
        if (!_queue.Writer.TryWrite(pending))
        {
            return Task.FromException(new ObjectDisposedException(nameof(StoreWriter), "The store is shutting down."));
        }

        return pending.Completion.Task;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run();
                ended.TrySetResult();
            }
            catch (Exception ex)
            {
                ended.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "Chat store writer",
        };
        thread.Start();
        return ended.Task;
    }

    private void Run()
    {
        var batch = new List<PendingWrite>(_maxBatch);
        var writes = new List<StoreWrite>(_maxBatch);
        var reader = _queue.Reader;

        // Not bound to stoppingToken: on stop the queue is completed and drained, so every
        // write that was accepted is committed before the process exits.
        while (WaitToRead(reader))
        {
            while (batch.Count < _maxBatch && reader.TryRead(out var pending))
            {
                batch.Add(pending);
                writes.Add(pending.Write);
            }

            Commit(batch, writes);
            batch.Clear();
            writes.Clear();
        }
    }

    /// <summary>True when there is something to read; blocks this thread until there is; false once the queue is completed and empty.</summary>
    private static bool WaitToRead(ChannelReader<PendingWrite> reader)
    {
        var ready = reader.WaitToReadAsync(CancellationToken.None);
        return ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private void Commit(List<PendingWrite> batch, List<StoreWrite> writes)
    {
        try
        {
            var started = time.GetTimestamp();
            var written = store.WriteAsync(writes, CancellationToken.None);
            if (!written.IsCompletedSuccessfully)
            {
                written.GetAwaiter().GetResult(); // a store that really waits blocks this thread, not a pool thread
            }

            metrics.Committed(writes.Count, time.GetElapsedTime(started));
        }
        catch (Exception ex) when (batch.Count > 1)
        {
            // One bad write must not fail its neighbours: commit them one by one.
            Log.BatchFailed(logger, batch.Count, ex);
            foreach (var pending in batch)
            {
                Commit([pending], [pending.Write]);
            }

            return;
        }
        catch (Exception ex)
        {
            Log.WriteFailed(logger, writes[0].GetType().Name, ex);
            batch[0].Completion.TrySetException(ex);
            return;
        }

        foreach (var pending in batch)
        {
            pending.Completion.TrySetResult();
        }
    }

    private sealed class PendingWrite(StoreWrite write)
    {
        public StoreWrite Write { get; } = write;

        // Never on this loop: a grain's continuation goes to its own scheduler, anything else to the pool.
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A batch of {Count} store writes failed; committing them one by one.")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Store write {Write} failed.")]
        public static partial void WriteFailed(ILogger logger, string write, Exception exception);
    }
}
