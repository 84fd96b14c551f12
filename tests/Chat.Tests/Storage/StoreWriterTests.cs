using System.Diagnostics.Metrics;
using Chat.Logic.Diagnostics;
using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;
using Chat.Logic.Storage.Memory;
using Chat.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Chat.Tests.Storage;

/// <summary>
/// Group commit and its failures: a write the store refuses fails alone and its neighbours commit in
/// the same batch, never one by one; a batch that fails for any other reason (the database is gone)
/// fails whole at once, because trying its writes one by one would only wait for the same failure.
/// </summary>
public sealed class StoreWriterTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_refused_write_fails_alone_and_its_neighbours_commit_in_the_same_batch()
    {
        var store = new HeldStore();
        await using var running = await RunningWriter.StartAsync(store);
        var writer = running.Writer;
        await WriteAsync(writer, new StoreWrite.NewAccount(Account(1)));

        var (first, bad, last) = await QueueBehindHeldAsync(store, writer, Account(2), Account(1), Account(3));

        await first.Within(Limit, "the first write");
        var refused = await Assert.ThrowsAsync<StoreRefusedException>(() => bad.Within(Limit, "the refused write"));
        Assert.Contains("account id 1", refused.Message, StringComparison.Ordinal);
        await last.Within(Limit, "the last write");
        Assert.NotNull(await store.FindAccountAsync(3, CancellationToken.None));
        Assert.Equal(1 + 1 + 1, store.Batches); // the first write; the held one; the three together, once
    }

    [Fact]
    public async Task One_resent_requestId_among_a_thousand_visitors_messages_is_answered_in_their_batch_and_they_commit_once()
    {
        const int Visitors = 1_024;
        var store = new HeldStore();
        await using var running = await RunningWriter.StartAsync(store, new StoreOptions { MaxBatch = 2 * Visitors });
        var writer = running.Writer;
        for (var pair = 0; pair < Visitors / 2; pair++)
        {
            var (a, b) = (100 + (2 * (ulong)pair), 101 + (2 * (ulong)pair));
            await Task.WhenAll(writer.WriteAsync(new StoreWrite.NewAccount(Account(a))), writer.WriteAsync(new StoreWrite.NewAccount(Account(b))), writer.WriteAsync(new StoreWrite.NewSession(new SessionRecord(10_000 + (ulong)pair, a, b, 1_000)))).Within(Limit, "the visitors");
        }

        var first = await writer.AppendAsync(Message(1, 10_000, 100, "lost-answer")).Within(Limit, "the first attempt");
        Assert.Equal(WriteOutcome.Stored, first);

        store.Hold();
        var held = writer.WriteAsync(new StoreWrite.WaitingAdded(99, 1));
        await store.Held.Within(Limit, "the store to be held");
        var batches = store.Batches;
        var sends = Enumerable.Range(0, Visitors).Select(v => writer.AppendAsync(Message(10 + (ulong)v, 10_000 + ((ulong)v / 2), 100 + (ulong)v, $"r{v}"))).ToList();
        var resent = writer.AppendAsync(Message(5_000, 10_000, 100, "lost-answer"));
        store.Release();
        await held.Within(Limit, "the held write");

        Assert.Equal(WriteOutcome.AlreadyStoredAs(1), await resent.Within(Limit, "the resent message"));
        Assert.All(await Task.WhenAll(sends).Within(Limit, "the visitors' messages"), outcome => Assert.Equal(WriteOutcome.Stored, outcome));
        Assert.Equal(batches + 1, store.Batches); // all of them, and the resent one, in one batch: nobody went again one by one
        Assert.Equal([1UL, 10, 11], (await store.ReadMessagesForAsync(10_000, 0, 0, 10, CancellationToken.None)).Select(m => m.Id)); // the first attempt and two visitors, not the resent one
    }

    [Fact]
    public async Task A_batch_that_fails_for_another_reason_fails_every_write_at_once()
    {
        var store = new HeldStore();
        await using var running = await RunningWriter.StartAsync(store);
        var writer = running.Writer;
        store.Unavailable = true;

        var (first, second, third) = await QueueBehindHeldAsync(store, writer, Account(1), Account(2), Account(3));

        foreach (var write in new[] { first, second, third })
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => write.Within(Limit, "a write of the failed batch"));
        }

        Assert.Equal(1 + 1, store.Batches); // the held one, then the three together: never one by one
        store.Unavailable = false;
        await WriteAsync(writer, new StoreWrite.NewAccount(Account(4))); // and the next batch commits
    }

    /// <summary>Holds the store on a first write, queues three more behind it so they form one batch, then lets go.</summary>
    private static async Task<(Task, Task, Task)> QueueBehindHeldAsync(HeldStore store, StoreWriter writer, params AccountRecord[] accounts)
    {
        store.Hold();
        var held = writer.WriteAsync(new StoreWrite.WaitingAdded(99, 1));
        await store.Held.Within(Limit, "the store to be held");
        var writes = accounts.Select(a => writer.WriteAsync(new StoreWrite.NewAccount(a))).ToArray();
        store.Release();
        try
        {
            await held.Within(Limit, "the held write");
        }
        catch (StoreUnavailableException)
        {
            // the unavailable store fails the held write too
        }

        return (writes[0], writes[1], writes[2]);
    }

    private sealed class RunningWriter(StoreWriter writer, IChatStore store) : IAsyncDisposable
    {
        public StoreWriter Writer { get; } = writer;

        public static async Task<RunningWriter> StartAsync(IChatStore store, StoreOptions? options = null)
        {
            var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            await store.InitializeAsync(CancellationToken.None);
            var writer = new StoreWriter(store, Options.Create(options ?? new StoreOptions()), new LogicMetrics(services.GetRequiredService<IMeterFactory>()), TimeProvider.System, NullLogger<StoreWriter>.Instance);
            await writer.StartAsync(CancellationToken.None);
            return new RunningWriter(writer, store);
        }

        public async ValueTask DisposeAsync()
        {
            await Writer.StopAsync(CancellationToken.None);
            Writer.Dispose();
            await store.DisposeAsync();
        }
    }

    private static Task WriteAsync(StoreWriter writer, StoreWrite write) => writer.WriteAsync(write).Within(Limit, "a write");

    private static AccountRecord Account(ulong id) => new(id, $"nick{id}", new byte[32], 1_000);

    private static MessageRecord Message(ulong id, ulong session, ulong sender, string requestId) => new(id, session, sender, requestId, $"message {id}", 2_000);

    /// <summary>A memory store that counts batches, can hold the writer on a batch, and can act unreachable.</summary>
    private sealed class HeldStore : MemoryStoreWrapper
    {
        private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _gate;
        private TaskCompletionSource? _release;

        public int Batches { get; private set; }

        public bool Unavailable { get; set; }

        public Task Held => _held.Task;

        public void Hold()
        {
            _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _gate = _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public void Release() => _release?.TrySetResult();

        public override async Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
        {
            Batches++;
            if (Interlocked.Exchange(ref _gate, null) is { } gate)
            {
                _held.TrySetResult();
                await gate.Task;
            }

            if (Unavailable)
            {
                throw new StoreUnavailableException("unreachable (test)");
            }

            await Inner.WriteAsync(batch, outcomes, cancellationToken);
        }
    }
}
