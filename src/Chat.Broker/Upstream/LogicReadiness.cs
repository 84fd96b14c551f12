using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Chat.Broker.Upstream;

/// <summary>A broker of a cluster is ready when some logic node answers (<c>/readyz</c>, gRPC health).</summary>
internal sealed class LogicReadiness(GrpcLogic logic) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await logic.AnyNodeAnswersAsync(cancellationToken)
            ? HealthCheckResult.Healthy("a logic node answers")
            : new HealthCheckResult(context.Registration.FailureStatus, "no logic node answers");
}
