using Chat.Logic.Storage;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A memory store that counts its lookups of accounts and sessions: what a request naming an account or
/// a session that is not in memory costs (its grain reads it to activate).
/// </summary>
internal sealed class ReadCountingStore : MemoryStoreWrapper
{
    private int _accountReads;
    private int _sessionReads;

    public int AccountReads => Volatile.Read(ref _accountReads);

    public int SessionReads => Volatile.Read(ref _sessionReads);

    public override Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sessionReads);
        return Inner.LoadSessionAsync(sessionId, cancellationToken);
    }

    public override Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _accountReads);
        return Inner.FindAccountAsync(accountId, cancellationToken);
    }

    public override Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken) =>
        Inner.WriteAsync(batch, outcomes, cancellationToken);
}
