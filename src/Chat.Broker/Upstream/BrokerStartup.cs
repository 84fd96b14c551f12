using Chat.Broker.Connections;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Upstream;

/// <summary>
/// A broker that starts holds no socket yet: whatever logic had bound to its address belongs to
/// an earlier start. It tells logic, again until logic answers (in a cluster, logic may come up
/// after it); its own new sockets are kept whenever the message arrives.
/// </summary>
internal sealed partial class BrokerStartup(
    ILogic logic,
    ConnectionRegistry registry,
    IOptions<BrokerOptions> options,
    TimeProvider time,
    ILogger<BrokerStartup> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // In one process with logic this succeeds at once, before the first socket is accepted.
        if (!await TryTellAsync(cancellationToken))
        {
            await base.StartAsync(cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pause = TimeSpan.FromSeconds(1);
        while (!await TryTellAsync(stoppingToken))
        {
            await Task.Delay(pause, time, stoppingToken);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    private async Task<bool> TryTellAsync(CancellationToken cancellationToken)
    {
        try
        {
            await logic.BrokerStartedAsync(options.Value.Address, registry.Incarnation, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.NotTold(logger, ex.Message); // expected while logic is still starting: no stack trace
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Logic has not taken this broker's start yet ({Reason}); trying again.")]
        public static partial void NotTold(ILogger logger, string reason);
    }
}
