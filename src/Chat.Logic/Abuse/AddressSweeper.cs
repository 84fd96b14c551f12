using Chat.Logic.Housekeeping;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Abuse;

/// <summary>
/// This node's timer for forgetting quiet addresses: every <see cref="LimitOptions.SweepInterval"/>
/// it asks each address shard to drop the addresses that hold nothing any more, so an address that
/// went quiet costs nothing after a while, however many there were. Each node sweeps every shard
/// (64 short calls a minute): a shard that moved with a node is swept all the same.
/// </summary>
internal sealed partial class AddressSweeper(
    Admissions admissions,
    IOptions<LimitOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<AddressSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not before the silo is up: until then there is nowhere to put a shard.
        if (!admissions.TracksAddresses || !await lifetime.WhenStartedAsync(stoppingToken))
        {
            return;
        }

        await time.EveryAsync(
            options.Value.SweepInterval,
            async () => Log.Swept(logger, await admissions.SweepAsync()),
            ex => Log.SweepFailed(logger, ex),
            stoppingToken);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Address shards swept: {Tracked} addresses still tracked.")]
        public static partial void Swept(ILogger logger, int tracked);

        [LoggerMessage(2, LogLevel.Warning, "Sweeping the address shards failed; it runs again on the next tick.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
