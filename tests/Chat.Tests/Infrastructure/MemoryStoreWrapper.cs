using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;

namespace Chat.Tests.Infrastructure;

/// <summary>A store (a memory store unless given another) whose writes a test double can hold, fail or count; everything else passes straight through.</summary>
internal abstract class MemoryStoreWrapper(IChatStore? inner = null) : IChatStore
{
    protected IChatStore Inner { get; } = inner ?? new MemoryChatStore();

    public abstract Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken);

    public Task InitializeAsync(CancellationToken cancellationToken) => Inner.InitializeAsync(cancellationToken);

    public Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken) => Inner.ReserveIdsAsync(kind, count, cancellationToken);

    public virtual Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken) => Inner.FindAccountAsync(accountId, cancellationToken);

    public virtual Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken) => Inner.LoadSessionAsync(sessionId, cancellationToken);

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken) => Inner.FindActiveSessionsAsync(accountId, cancellationToken);

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken) => Inner.LoadWaitingAsync(cancellationToken);

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken) => Inner.LoadActivePairsAsync(cancellationToken);

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken) => Inner.FindAwaySinceAsync(awaySinceUnixMs, limit, cancellationToken);

    public virtual Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken) => Inner.ReadCountsAsync(cancellationToken);

    public Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken) => Inner.FindBrokersAsync(cancellationToken);

    public Task<IReadOnlyList<ulong>> FindOnBrokerAsync(string broker, int limit, CancellationToken cancellationToken) => Inner.FindOnBrokerAsync(broker, limit, cancellationToken);

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken) => Inner.DeleteExpiredAsync(beforeUnixMs, limit, cancellationToken);

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken) =>
        Inner.ReadMessagesForAsync(sessionId, receiverId, afterMsgId, limit, cancellationToken);

    public Task<ulong?> FindMessageIdAsync(ulong sessionId, ulong senderId, string requestId, CancellationToken cancellationToken) =>
        Inner.FindMessageIdAsync(sessionId, senderId, requestId, cancellationToken);

    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
