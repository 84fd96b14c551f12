using Chat.Logic.Storage;

namespace Chat.Tests.Infrastructure;

/// <summary>A store (a memory store unless given another) whose writes can be made to wait.</summary>
internal sealed class GatedStore(IChatStore? inner = null) : MemoryStoreWrapper(inner)
{
    private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _gate;

    public Task Held => _held.Task;

    public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _gate?.TrySetResult();

    public override async Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
    {
        if (_gate is { } gate)
        {
            _held.TrySetResult();
            await gate.Task;
        }

        await Inner.WriteAsync(batch, outcomes, cancellationToken);
    }
}
