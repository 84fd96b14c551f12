using Chat.Broker.Connections;
using Chat.Broker.Limits;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.Registry;

namespace Chat.Broker.Upstream;

/// <summary>
/// A broker that starts holds no socket yet: whatever logic had bound to its address belongs to
/// an earlier start. It tells logic, again until logic answers (in a cluster, logic may come up
/// after it; the <see cref="UpstreamResilience.BrokerStart"/> pipeline spaces the attempts); its
/// own new sockets are kept whenever the message arrives, and so are their counts for the limits:
/// a start logic hears of late makes it forget this broker's counts, so the broker reports what it
/// holds right after.
/// </summary>
internal sealed partial class BrokerStartup(
    ILogic logic,
    ConnectionRegistry registry,
    AddressGate addresses,
    IOptions<BrokerOptions> options,
    ResiliencePipelineProvider<string> pipelines,
    ILogger<BrokerStartup> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // In one process with logic this succeeds at once, before the first socket is accepted.
        try
        {
            await TellAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await base.StartAsync(cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await pipelines.GetPipeline(UpstreamResilience.BrokerStart).ExecuteAsync(TellAsync, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async ValueTask TellAsync(CancellationToken cancellationToken)
    {
        try
        {
            await logic.BrokerStartedAsync(options.Value.Address, registry.Incarnation, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.NotTold(logger, ex.Message); // expected while logic is still starting: no stack trace
            throw;
        }

        await addresses.ReportHeldAsync(cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Logic has not taken this broker's start yet ({Reason}); trying again.")]
        public static partial void NotTold(ILogger logger, string reason);
    }
}
