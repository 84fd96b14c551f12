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
/// never holds up the commits of other sessions. A batch the store refuses (a write in it is wrong) is
/// committed again one write at a time, so only the wrong write fails; a batch that fails for any
/// other reason (the database is unreachable) fails whole at once.
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

    // Only the writer's thread reads and writes it.
    private bool _failing;

    /// <summary>
    /// Queues a write; the task completes when it is committed, and fails if the store refuses it
    /// (for these writes a refusal is a bug, not an outcome) or cannot be reached.
    /// </summary>
    public Task WriteAsync(StoreWrite write) => Queue(write, refusalIsOutcome: false);

    /// <summary>
    /// Queues a message; the task completes when the store has decided: stored, already stored under
    /// its requestId (with the first message's id), or refused. It fails only if the store cannot be reached.
    /// </summary>
    public Task<WriteOutcome> AppendAsync(MessageRecord message) => Queue(new StoreWrite.NewMessage(message), refusalIsOutcome: true);

    private Task<WriteOutcome> Queue(StoreWrite write, bool refusalIsOutcome)
    {
        var pending = new PendingWrite(write, refusalIsOutcome);
        if (!_queue.Writer.TryWrite(pending))
        {
            return Task.FromException<WriteOutcome>(new ObjectDisposedException(nameof(StoreWriter), "The store is shutting down."));
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
            if (_failing)
            {
                _failing = false;
                Log.Recovered(logger);
            }
        }
        catch (StoreRefusedException ex) when (batch.Count > 1)
        {
            // The store refused a write of the batch: one bad write must not fail its neighbours, so
            // they are committed one by one and only the refused one fails.
            Log.BatchRefused(logger, batch.Count, ex);
            foreach (var pending in batch)
            {
                Commit([pending], [pending.Write]);
            }

            return;
        }
        catch (StoreRefusedException ex)
        {
            if (ex is AlreadyStoredException)
            {
                Log.AlreadyStored(logger, ex.Message);
            }
            else
            {
                Log.WriteRefused(logger, writes[0].GetType().Name, ex);
            }

            batch[0].Refused(ex);
            return;
        }
        catch (Exception ex)
        {
            // Not the writes' fault (a lost connection, a timeout, an open breaker): trying them one
            // by one would only wait for the same failure once per write. They all fail at once,
            // and their senders hear of it now. Logged in full once until a commit works again.
            if (!_failing)
            {
                _failing = true;
                Log.StoreFailed(logger, batch.Count, ex);
            }
            else
            {
                Log.StillFailing(logger, batch.Count, ex.Message);
            }

            foreach (var pending in batch)
            {
                pending.Completion.TrySetException(ex);
            }

            return;
        }

        foreach (var pending in batch)
        {
            pending.Completion.TrySetResult(WriteOutcome.Stored);
        }
    }

    private sealed class PendingWrite(StoreWrite write, bool refusalIsOutcome)
    {
        public StoreWrite Write { get; } = write;

        // Never on this loop: a grain's continuation goes to its own scheduler, anything else to the pool.
        public TaskCompletionSource<WriteOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Refused(StoreRefusedException refusal)
        {
            if (!refusalIsOutcome)
            {
                Completion.TrySetException(refusal);
            }
            else if (refusal is AlreadyStoredException stored)
            {
                Completion.TrySetResult(WriteOutcome.AlreadyStoredAs(stored.MsgId));
            }
            else
            {
                Completion.TrySetResult(WriteOutcome.RefusedFor(refusal.Message));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The store refused a write in a batch of {Count}; committing them one by one.")]
        public static partial void BatchRefused(ILogger logger, int count, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "The store refused {Write}.")]
        public static partial void WriteRefused(ILogger logger, string write, Exception exception);

        [LoggerMessage(3, LogLevel.Error, "A batch of {Count} store writes failed; every write in it fails. Further failures are logged at Debug until a commit works again.")]
        public static partial void StoreFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(4, LogLevel.Debug, "A batch of {Count} store writes failed again: {Reason}")]
        public static partial void StillFailing(ILogger logger, int count, string reason);

        [LoggerMessage(5, LogLevel.Information, "Store writes commit again.")]
        public static partial void Recovered(ILogger logger);

        [LoggerMessage(6, LogLevel.Debug, "A message was stored already: {Reason}")]
        public static partial void AlreadyStored(ILogger logger, string reason);
    }
}
