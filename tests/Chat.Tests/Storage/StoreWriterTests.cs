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
/// Group commit and its failures: a write the store refuses fails alone (its neighbours are
/// committed one by one); a batch that fails for any other reason (the database is gone) fails whole
/// at once, because trying its writes one by one would only wait for the same failure once per write.
/// </summary>
public sealed class StoreWriterTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_refused_write_fails_alone_and_its_neighbours_commit()
    {
        var store = new HeldStore();
        await using var running = await RunningWriter.StartAsync(store);
        var writer = running.Writer;
        await WriteAsync(writer, new StoreWrite.NewAccount(Account(1)));

        var (first, bad, last) = await QueueBehindHeldAsync(store, writer, Account(2), Account(1), Account(3));

        await first.Within(Limit, "the first write");
        await Assert.ThrowsAsync<StoreRefusedException>(() => bad.Within(Limit, "the refused write"));
        await last.Within(Limit, "the last write");
        Assert.NotNull(await store.FindAccountAsync(3, CancellationToken.None));
        Assert.Equal(1 + 1 + 1 + 3, store.Batches); // the first write; the held one; the three together, refused; then each of them alone
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

    private sealed class RunningWriter(StoreWriter writer) : IAsyncDisposable
    {
        public StoreWriter Writer { get; } = writer;

        public static async Task<RunningWriter> StartAsync(IChatStore store)
        {
            var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var writer = new StoreWriter(store, Options.Create(new StoreOptions()), new LogicMetrics(services.GetRequiredService<IMeterFactory>()), TimeProvider.System, NullLogger<StoreWriter>.Instance);
            await writer.StartAsync(CancellationToken.None);
            return new RunningWriter(writer);
        }

        public async ValueTask DisposeAsync()
        {
            await Writer.StopAsync(CancellationToken.None);
            Writer.Dispose();
        }
    }

    private static Task WriteAsync(StoreWriter writer, StoreWrite write) => writer.WriteAsync(write).Within(Limit, "a write");

    private static AccountRecord Account(ulong id) => new(id, $"nick{id}", new byte[32], 1_000);

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

        public override async Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
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

            await Inner.WriteAsync(batch, cancellationToken);
        }
    }
}
