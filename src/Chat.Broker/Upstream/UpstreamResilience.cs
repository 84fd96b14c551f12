using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Chat.Broker.Upstream;

/// <summary>
/// The broker's Polly pipelines towards logic, by name, each built from <see cref="UpstreamOptions"/> on the
/// injected clock (Polly takes the container's <see cref="TimeProvider"/>) and reporting Polly's metrics.
/// </summary>
internal static class UpstreamResilience
{
    /// <summary>One call to one logic node: given up after <see cref="UpstreamOptions.CallTimeout"/> (the next node is tried).</summary>
    public const string LogicCall = "chat.broker.logic-call";

    /// <summary>Telling logic of this broker's start: again and again, the pause doubling up to a cap, until some node takes it.</summary>
    public const string BrokerStart = "chat.broker.start";

    /// <summary>The pipelines whose events the chat logs itself (one line, no stack trace): Polly logs them at Debug only.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal) { LogicCall, BrokerStart };

    public static IServiceCollection AddUpstreamResilience(this IServiceCollection services)
    {
        services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddResiliencePipeline(LogicCall, (pipeline, context) =>
            pipeline.AddTimeout(Options(context.ServiceProvider).CallTimeout));
        services.AddResiliencePipeline(BrokerStart, (pipeline, context) =>
        {
            var options = Options(context.ServiceProvider);
            pipeline.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = options.StartRetryDelay,
                MaxDelay = options.StartRetryMaxDelay,
            });
        });
        return services;
    }

    private static UpstreamOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<UpstreamOptions>>().Value;
}
