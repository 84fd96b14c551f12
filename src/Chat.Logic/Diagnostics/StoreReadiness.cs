using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Chat.Logic.Diagnostics;

/// <summary>
/// Logic is ready when its store answers (<c>/readyz</c>, gRPC health). Through <see cref="LiveCounts"/>,
/// so probes as often as a load balancer likes cost at most one read of the counts a second.
/// </summary>
internal sealed class StoreReadiness(LiveCounts counts) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await counts.ReadAsync(cancellationToken);
            return HealthCheckResult.Healthy("the store answers");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "the store does not answer", ex);
        }
    }
}
