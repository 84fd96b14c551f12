using Microsoft.Extensions.Hosting;

namespace Chat.Logic.Housekeeping;

internal static class LifetimeExtensions
{
    /// <summary>Waits until the host has started (its silo has joined the cluster, so grains have somewhere to live); false if it stops first.</summary>
    public static async Task<bool> WhenStartedAsync(this IHostApplicationLifetime lifetime, CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }
}
