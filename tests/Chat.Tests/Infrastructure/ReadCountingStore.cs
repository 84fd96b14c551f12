using Chat.Logic.Storage;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A memory store that counts its lookups of accounts and sessions (what a request naming an account or
/// a session that is not in memory costs: its grain reads it to activate) and its reads of the live
/// counts, which it can hold.
/// </summary>
internal sealed class ReadCountingStore : MemoryStoreWrapper
{
    private readonly TaskCompletionSource _countsHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _countsGate;
    private int _accountReads;
    private int _sessionReads;
    private int _countReads;
    private int _countReadsNow;
    private int _mostCountReadsAtOnce;

    public int CountReads => Volatile.Read(ref _countReads);

    /// <summary>The most reads of the counts that were in flight at one time.</summary>
    public int MostCountReadsAtOnce => Volatile.Read(ref _mostCountReadsAtOnce);

    /// <summary>Completes when a read of the counts waits on <see cref="HoldCounts"/>.</summary>
    public Task CountsHeld => _countsHeld.Task;

    public void HoldCounts() => _countsGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseCounts() => _countsGate?.TrySetResult();

    public override async Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _countReads);
        var now = Interlocked.Increment(ref _countReadsNow);
        int most;
        while (now > (most = Volatile.Read(ref _mostCountReadsAtOnce)) && Interlocked.CompareExchange(ref _mostCountReadsAtOnce, now, most) != most)
        {
        }

        try
        {
            if (_countsGate is { } gate)
            {
                _countsHeld.TrySetResult();
                await gate.Task;
            }

            return await Inner.ReadCountsAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _countReadsNow);
        }
    }

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
