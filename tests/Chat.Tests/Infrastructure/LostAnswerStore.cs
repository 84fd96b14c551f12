using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A memory store that can commit a batch of messages and then fail as if the connection died during
/// COMMIT: the messages are stored, but the writer hears of a failure.
/// </summary>
internal sealed class LostAnswerStore : IChatStore
{
    private readonly MemoryChatStore _inner = new();
    private int _loseNext;

    /// <summary>The next batch holding a message commits, then fails.</summary>
    public void LoseNextAnswer() => Volatile.Write(ref _loseNext, 1);

    public async Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
    {
        await _inner.WriteAsync(batch, cancellationToken);
        if (batch.Any(w => w is StoreWrite.NewMessage) && Interlocked.Exchange(ref _loseNext, 0) == 1)
        {
            throw new StoreUnavailableException("The connection was lost during COMMIT (test).");
        }
    }

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken) =>
        _inner.ReadMessagesForAsync(sessionId, receiverId, afterMsgId, limit, cancellationToken);

    public Task InitializeAsync(CancellationToken cancellationToken) => _inner.InitializeAsync(cancellationToken);

    public Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken) => _inner.ReserveIdsAsync(kind, count, cancellationToken);

    public Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken) => _inner.FindAccountAsync(accountId, cancellationToken);

    public Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken) => _inner.FindSessionAsync(sessionId, cancellationToken);

    public Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken) => _inner.LoadSessionAsync(sessionId, cancellationToken);

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken) => _inner.FindActiveSessionsAsync(accountId, cancellationToken);

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken) => _inner.LoadWaitingAsync(cancellationToken);

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken) => _inner.LoadActivePairsAsync(cancellationToken);

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken) => _inner.FindAwaySinceAsync(awaySinceUnixMs, limit, cancellationToken);

    public Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken) => _inner.ReadCountsAsync(cancellationToken);

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken) => _inner.DeleteExpiredAsync(beforeUnixMs, limit, cancellationToken);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
