using Chat.Broker;
using Chat.Logic;
using Polly;
using Polly.Telemetry;

namespace Chat.Host.Hosting;

public static class ResilienceExtensions
{
    /// <summary>
    /// Polly's telemetry for the pipelines between nodes: metrics enriched by Microsoft.Extensions.Resilience
    /// (<c>error.type</c> and the like). The chat logs those pipelines' events itself, in one line without a
    /// stack trace, so Polly's own log lines for them go to Debug; its metrics are unchanged.
    /// </summary>
    public static IServiceCollection AddChatResilience(this IServiceCollection services)
    {
        services.AddResilienceEnricher();
        services.Configure<TelemetryOptions>(telemetry =>
        {
            var fallback = telemetry.SeverityProvider;
            telemetry.SeverityProvider = args =>
                BrokerExtensions.ResiliencePipelines.Contains(args.Source.PipelineName ?? string.Empty) || LogicExtensions.ResiliencePipelines.Contains(args.Source.PipelineName ?? string.Empty)
                    ? ResilienceEventSeverity.Debug
                    : fallback?.Invoke(args) ?? args.Event.Severity;
        });
        return services;
    }
}
