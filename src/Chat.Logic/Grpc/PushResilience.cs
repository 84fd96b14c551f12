using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Chat.Logic.Grpc;

/// <summary>
/// Logic's Polly pipelines towards brokers, by name, each built from its options on the injected clock
/// (Polly takes the container's <see cref="TimeProvider"/>) and reporting Polly's metrics.
/// </summary>
internal static class PushResilience
{
    /// <summary>
    /// A batch of pushes to one broker: tried again while the broker refuses it, the pause doubling from
    /// <see cref="PushOptions.RetryDelay"/> to <see cref="PushOptions.RetryMaxDelay"/>, and given up after
    /// <see cref="PushOptions.GiveUpAfter"/> in all (a push that went through twice is dropped by the broker: it knows the msgIds each socket got).
    /// </summary>
    public const string Push = "chat.logic.push";

    /// <summary>The housekeeper's check that a broker is alive: no answer within <see cref="LogicOptions.BrokerCheckTimeout"/> is silence.</summary>
    public const string BrokerCheck = "chat.logic.broker-check";

    /// <summary>The pipelines whose events the chat logs itself: Polly logs them at Debug only.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal) { Push, BrokerCheck };

    public static IServiceCollection AddPushResilience(this IServiceCollection services)
    {
        services.AddOptions<PushOptions>().BindConfiguration(PushOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddResiliencePipeline(Push, (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<PushOptions>>().Value;
            pipeline
                .AddTimeout(options.GiveUpAfter)
                .AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is RpcException && !args.Context.CancellationToken.IsCancellationRequested),
                    MaxRetryAttempts = int.MaxValue,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = false,
                    Delay = options.RetryDelay,
                    MaxDelay = options.RetryMaxDelay,
                });
        });
        services.AddResiliencePipeline(BrokerCheck, (pipeline, context) =>
            pipeline.AddTimeout(context.ServiceProvider.GetRequiredService<IOptions<LogicOptions>>().Value.BrokerCheckTimeout));
        return services;
    }
}
