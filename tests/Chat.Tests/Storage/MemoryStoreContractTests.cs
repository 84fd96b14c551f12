using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Storage;

public sealed class MemoryStoreContractTests : StoreContractTests, IAsyncLifetime
{
    private KeptStore? _store;

    private protected override async Task<IChatStore> OpenAsync()
    {
        _store = new KeptStore();
        await _store.InitializeAsync(CancellationToken.None);
        return _store;
    }

    // The memory store's database lives as long as the store: a second store on it, or the store
    // reopened, is that same store (a test's dispose forgets nothing; only the test's end does).
    private protected override Task<IChatStore> OpenAgainAsync() =>
        Task.FromResult<IChatStore>(_store ?? throw new InvalidOperationException("OpenAsync first."));

    public Task InitializeAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeForGoodAsync();
        }
    }

    private sealed class KeptStore : MemoryStoreWrapper
    {
        public override Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken) =>
            Inner.WriteAsync(batch, outcomes, cancellationToken);

#pragma warning disable CA2215 // kept on purpose: the test's end disposes the memory store for good
        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
#pragma warning restore CA2215

        public ValueTask DisposeForGoodAsync() => Inner.DisposeAsync();
    }
}
