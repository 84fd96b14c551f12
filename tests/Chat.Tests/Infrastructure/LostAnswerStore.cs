using Chat.Logic.Storage;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A memory store that can commit a batch of messages and then fail as if the connection died during
/// COMMIT: the messages are stored, but the writer hears of a failure.
/// </summary>
internal sealed class LostAnswerStore : MemoryStoreWrapper
{
    private int _loseNext;

    /// <summary>The next batch holding a message commits, then fails.</summary>
    public void LoseNextAnswer() => Volatile.Write(ref _loseNext, 1);

    public override async Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
    {
        await Inner.WriteAsync(batch, outcomes, cancellationToken);
        if (batch.Any(w => w is StoreWrite.NewMessage) && Interlocked.Exchange(ref _loseNext, 0) == 1)
        {
            throw new StoreUnavailableException("The connection was lost during COMMIT (test).");
        }
    }
}
