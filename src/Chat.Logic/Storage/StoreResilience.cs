// Owns: how the store stops hammering a database it cannot reach: one Polly v8 circuit breaker
// (through Microsoft.Extensions.Resilience, so its state changes are metrics and logs), on the
// injected clock. Only "could not reach the database" counts against it, never a refused write.
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.CircuitBreaker;

namespace Chat.Logic.Storage;

/// <summary>
/// After a failure to reach the database, calls fail at once (<see cref="StoreUnavailableException"/>)
/// for a pause: 100 ms after the first, doubling with each failed try up to 1 s; then one call tries
/// again, and a success closes the breaker. While the database is away, the writer and the reads each
/// try about once a second instead of once per message, and senders hear of it at once rather than
/// after a connect timeout; when it is back, the store finds it within a second.
/// </summary>
internal static class StoreResilience
{
    /// <summary>The pipeline's name in the registry, and in its metrics (<c>pipeline.name</c>).</summary>
    public const string PipelineName = "chat.store";

    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(1);

    /// <summary>Registers the store's breaker; the stores take it from <see cref="Polly.Registry.ResiliencePipelineProvider{TKey}"/>.</summary>
    public static IServiceCollection AddStoreResilience(this IServiceCollection services)
    {
        services.AddResilienceEnricher();
        services.AddResiliencePipeline(PipelineName, static (builder, context) => Configure(builder, context.ServiceProvider.GetRequiredService<TimeProvider>()));
        return services;
    }

    /// <summary>The same breaker for a store made outside a container (tests, tools): no metrics.</summary>
    public static ResiliencePipeline Build(TimeProvider time)
    {
        var builder = new ResiliencePipelineBuilder();
        Configure(builder, time);
        return builder.Build();
    }

    /// <summary>The pause after the breaker opened with <paramref name="failedTries"/> tries after a pause already failed.</summary>
    public static TimeSpan PauseAfter(int failedTries) =>
        TimeSpan.FromTicks(Math.Min(FirstPause.Ticks << Math.Min(failedTries, 16), LongestPause.Ticks));

    private static void Configure(ResiliencePipelineBuilder builder, TimeProvider time)
    {
        builder.TimeProvider = time;
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            // Any failure to reach the database opens it, once anything at all was tried in the last
            // half minute (Polly needs two calls before it judges; a first failure at start waits for a second).
            ShouldHandle = new PredicateBuilder().Handle<StoreUnavailableException>(ex => ex.Unreachable),
            FailureRatio = 0,
            MinimumThroughput = 2,
            SamplingDuration = TimeSpan.FromSeconds(30),
            BreakDurationGenerator = static args => ValueTask.FromResult(PauseAfter(args.HalfOpenAttempts)),

            // How long one trying call may keep the others waiting before another may try.
            BreakDuration = TimeSpan.FromSeconds(1),
        });
    }

    /// <summary>Runs <paramref name="call"/> through the breaker; an open breaker is a <see cref="StoreUnavailableException"/>, as every store failure is.</summary>
    public static async Task<T> RunAsync<TState, T>(this ResiliencePipeline breaker, Func<TState, CancellationToken, ValueTask<T>> call, TState state, CancellationToken cancellationToken)
    {
        try
        {
            return await breaker.ExecuteAsync(call, state, cancellationToken);
        }
        catch (BrokenCircuitException ex)
        {
            throw Open(ex);
        }
    }

    /// <summary>Runs <paramref name="call"/> through the breaker, on this thread (the writer's loop).</summary>
    public static void Run<TState>(this ResiliencePipeline breaker, Action<TState> call, TState state)
    {
        try
        {
            breaker.Execute(call, state);
        }
        catch (BrokenCircuitException ex)
        {
            throw Open(ex);
        }
    }

    private static StoreUnavailableException Open(BrokenCircuitException ex) =>
        new("The database could not be reached a moment ago; not trying again yet.", ex.InnerException as StoreUnavailableException, unreachable: false);
}
