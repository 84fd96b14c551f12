// Owns: group commit. Every write to the store goes through this one queue and thread, and each
// write's outcome (stored, already stored, refused: a value from the store) goes back to whoever
// queued it. It never splits a batch: the store judges each write inside the one transaction.
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
/// never holds up the commits of other sessions. The store decides each write of a batch on its own
/// (a wrong write is refused and its neighbours commit, in the same transaction); a batch that fails
/// for any other reason (the database is unreachable) fails whole at once.
/// </summary>
/// <remarks>
/// The loop has a thread of its own. Every message passes through it, so it must not wait in the
/// thread pool's queue behind the very reads that feed it: under a burst that queue is long, and a
/// loop that is a pool work item falls further behind the more work there is (docs/benchmarks.md).
/// Its store calls block, too (SQLite writes are synchronous), which a pool thread should not.
/// </remarks>
internal partial class StoreWriter(IChatStore store, IOptions<StoreOptions> options, LogicMetrics metrics, TimeProvider time, ILogger<StoreWriter> logger) : BackgroundService
{
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(
        new UnboundedChannelOptions { SingleReader = true });

    private readonly int _maxBatch = options.Value.MaxBatch;

    // The store's answer for each write of the batch being committed; only the writer's thread uses it.
    private readonly WriteOutcome[] _outcomes = new WriteOutcome[options.Value.MaxBatch];

    // Only the writer's thread reads and writes it.
    private bool _failing;

    // The writer's thread sleeps on it when the queue is empty (spin count 0: see WaitToRead); set after each write is queued.
    private readonly ManualResetEventSlim _woken = new(initialState: false, spinCount: 0);

    /// <summary>
    /// Queues a write; the task completes when it is committed, and fails if the store refuses it
    /// (for these writes a refusal is a bug, not an outcome) or cannot be reached.
    /// </summary>
    public Task WriteAsync(StoreWrite write) => Queue(write, PendingWrite.Kind.FailsOnRefusal)!;

    /// <summary>
    /// Queues a message; the task completes when the store has decided: stored, already stored under
    /// its requestId (with the first message's id), or refused. It fails only if the store cannot be reached.
    /// </summary>
    public Task<WriteOutcome> AppendAsync(MessageRecord message) => Queue(new StoreWrite.NewMessage(message), PendingWrite.Kind.Outcome)!;

    /// <summary>
    /// Queues a write whose refusal is an outcome (a pairing the store's fence refuses, since another
    /// took one of its visitors first); the task fails only if the store cannot be reached.
    /// </summary>
    public Task<WriteOutcome> DecideAsync(StoreWrite write) => Queue(write, PendingWrite.Kind.Outcome)!;

    /// <summary>Queues a write nobody waits for (a read mark): it commits in queue order like any other, and if it fails, the writer logs it.</summary>
    public void Post(StoreWrite write) => Queue(write, PendingWrite.Kind.Posted);

    private Task<WriteOutcome>? Queue(StoreWrite write, PendingWrite.Kind kind)
    {
        var pending = new PendingWrite(write, kind);
        if (!_queue.Writer.TryWrite(pending))
        {
            var closed = new ObjectDisposedException(nameof(StoreWriter), "The store is shutting down.");
            if (kind == PendingWrite.Kind.Posted)
            {
                Log.PostedLost(logger, write.GetType().Name, closed.Message);
            }

            return kind == PendingWrite.Kind.Posted ? null : Task.FromException<WriteOutcome>(closed);
        }

        _woken.Set();
        return pending.Completion?.Task;
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
    /// <remarks>
    /// The wait sleeps at once, without spinning. A task's blocking wait (and a default
    /// <see cref="ManualResetEventSlim"/>) first spins with <c>sched_yield</c> and short sleeps, and at a
    /// human pace the writer waits after every lone commit: that spin was two thirds of the server's
    /// <c>sched_yield</c> calls (docs/benchmarks.md, "Wake-ups"). Whoever queues a write sets the event.
    /// </remarks>
    private bool WaitToRead(ChannelReader<PendingWrite> reader)
    {
        while (true)
        {
            // Reset before looking: a write queued after the look sets the event again, so it is never missed.
            _woken.Reset();
            if (reader.TryPeek(out _))
            {
                return true;
            }

            if (reader.Completion.IsCompleted)
            {
                return false;
            }

            _woken.Wait();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        _woken.Set();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        base.Dispose();
        _woken.Dispose();
    }

    private void Commit(List<PendingWrite> batch, List<StoreWrite> writes)
    {
        try
        {
            var started = time.GetTimestamp();
            var written = store.WriteAsync(writes, _outcomes, CancellationToken.None);
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
        catch (Exception ex)
        {
            // Nothing is known about the writes (a lost connection, a timeout, an open breaker):
            // they all fail at once, and their senders hear of it now. Logged in full once until a
            // commit works again.
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
                pending.Failed(ex, logger);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Decided(_outcomes[i], logger);
        }
    }

    private sealed class PendingWrite(StoreWrite write, PendingWrite.Kind kind)
    {
        public enum Kind
        {
            /// <summary>The caller switches on the outcome (a message).</summary>
            Outcome,

            /// <summary>A refusal fails the caller's task: for these writes it is a bug.</summary>
            FailsOnRefusal,

            /// <summary>Nobody waits: a refusal or failure is logged.</summary>
            Posted,
        }

        public StoreWrite Write { get; } = write;

        // Never on this loop: a grain's continuation goes to its own scheduler, anything else to the pool.
        public TaskCompletionSource<WriteOutcome>? Completion { get; } = kind == Kind.Posted ? null : new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Decided(WriteOutcome outcome, ILogger logger)
        {
            switch (outcome.Result)
            {
                case WriteResult.Stored:
                    Completion?.TrySetResult(outcome);
                    return;
                case WriteResult.AlreadyStored:
                    Log.AlreadyStored(logger, outcome.MsgId);
                    break;
                default:
                    Log.WriteRefused(logger, Write.GetType().Name, outcome.Reason);
                    break;
            }

            if (kind == Kind.FailsOnRefusal)
            {
                Completion!.TrySetException(new StoreRefusedException($"The store refused {Write.GetType().Name}: {outcome.Reason}"));
            }
            else
            {
                Completion?.TrySetResult(outcome);
            }
        }

        public void Failed(Exception failure, ILogger logger)
        {
            if (Completion is { } completion)
            {
                completion.TrySetException(failure);
            }
            else
            {
                Log.PostedLost(logger, Write.GetType().Name, failure.Message);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "The store refused {Write}: {Reason}")]
        public static partial void WriteRefused(ILogger logger, string write, string? reason);

        [LoggerMessage(3, LogLevel.Error, "A batch of {Count} store writes failed; every write in it fails. Further failures are logged at Debug until a commit works again.")]
        public static partial void StoreFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(4, LogLevel.Debug, "A batch of {Count} store writes failed again: {Reason}")]
        public static partial void StillFailing(ILogger logger, int count, string reason);

        [LoggerMessage(5, LogLevel.Information, "Store writes commit again.")]
        public static partial void Recovered(ILogger logger);

        [LoggerMessage(6, LogLevel.Debug, "A message was stored already, as message {MsgId}: its sender's retry.")]
        public static partial void AlreadyStored(ILogger logger, ulong msgId);

        [LoggerMessage(7, LogLevel.Warning, "A {Write} nobody waits for was lost: {Reason}")]
        public static partial void PostedLost(ILogger logger, string write, string reason);
    }
}
