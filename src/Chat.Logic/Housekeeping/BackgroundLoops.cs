using Microsoft.Extensions.Hosting;

namespace Chat.Logic.Housekeeping;

/// <summary>What the nodes' background loops share: waiting for the host to start, and a timer loop on the injected clock.</summary>
internal static class BackgroundLoops
{
    /// <summary>Runs <paramref name="work"/> on every tick of <paramref name="interval"/> until stopped; a run that fails is reported, and the next tick tries again.</summary>
    public static async Task EveryAsync(this TimeProvider time, TimeSpan interval, Func<Task> work, Action<Exception> failed, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await work();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

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
