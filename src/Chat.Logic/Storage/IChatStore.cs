namespace Chat.Logic.Storage;

/// <summary>
/// Durable state of the chat: one implementation per engine. Writes arrive in batches from
/// <see cref="StoreWriter"/> and must commit all-or-nothing; reads may run beside them.
/// </summary>
public interface IChatStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    Task<StoreHighWater> ReadHighWaterAsync(CancellationToken cancellationToken);

    /// <summary>Commits the batch in one transaction, in order.</summary>
    Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken);

    Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken);

    /// <summary>A session, active or ended.</summary>
    Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken);

    /// <summary>Every session that has not ended, with its accounts: what logic holds in memory after a restart.</summary>
    Task<ActiveState> LoadActiveAsync(CancellationToken cancellationToken);

    /// <summary>Messages of the session with an id above <paramref name="afterMsgId"/> not sent by <paramref name="receiverId"/>, oldest first.</summary>
    Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken);
}
