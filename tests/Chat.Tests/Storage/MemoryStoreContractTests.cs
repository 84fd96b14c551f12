using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;

namespace Chat.Tests.Storage;

public sealed class MemoryStoreContractTests : StoreContractTests
{
    private MemoryChatStore? _store;

    private protected override async Task<IChatStore> OpenAsync()
    {
        _store = new MemoryChatStore();
        await _store.InitializeAsync(CancellationToken.None);
        return _store;
    }

    // The memory store's database is the instance itself: a second store on it, or the store
    // reopened, is that same instance (its dispose forgets nothing; only the process's end does).
    private protected override Task<IChatStore> OpenAgainAsync() =>
        Task.FromResult<IChatStore>(_store ?? throw new InvalidOperationException("OpenAsync first."));
}
