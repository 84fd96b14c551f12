using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;
using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>How health is asked for (<c>Chat:Health</c>).</summary>
public sealed class HealthOptions : IValidatableObject
{
    public const string Section = "Chat:Health";

    /// <summary>How long one readiness check may take before it counts as not ready (a balancer's probe should not hang).</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(3);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Durations.MustBeTimeouts(Section, (nameof(ReadyTimeout), ReadyTimeout));
}

public static class HealthExtensions
{
    /// <summary>The tag of the checks that say whether this node can do its work now (<c>/readyz</c>).</summary>
    public const string Ready = "ready";

    /// <summary>
    /// Health checks (<see cref="IHealthCheck"/>s tagged <see cref="Ready"/>, added by the role) and the
    /// standard gRPC health service over the same checks, for the gRPC ports of brokers and logic nodes.
    /// </summary>
    public static IHealthChecksBuilder AddChatHealth(this IServiceCollection services, bool grpc)
    {
        services.AddOptions<HealthOptions>().BindConfiguration(HealthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HealthCheckServiceOptions>().PostConfigure<IOptions<HealthOptions>>((checks, health) =>
        {
            foreach (var check in checks.Registrations)
            {
                check.Timeout = health.Value.ReadyTimeout;
            }
        });

        // "" is the whole server (what grpc_health_probe and Kubernetes' gRPC probes ask by default): ready or not.
        return grpc
            ? services.AddGrpcHealthChecks(o => o.Services.Map(string.Empty, check => check.Tags.Contains(Ready)))
            : services.AddHealthChecks();
    }

    /// <summary>
    /// <c>/healthz</c>: the process answers (no check runs). <c>/readyz</c>: it can do its work now (every
    /// check tagged <see cref="Ready"/> is healthy: the store answers, or, on a broker of a cluster, some
    /// logic node does); 503 otherwise, so a balancer or an orchestrator takes it out of rotation.
    /// </summary>
    public static WebApplication MapChatHealth(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = (context, _) => Text(context, "ok\n") });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(Ready),
            ResponseWriter = (context, report) => Text(context, report.Status == HealthStatus.Healthy ? "ready\n" : "not ready\n"),
        });
        return app;
    }

    private static Task Text(HttpContext context, string text)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text);
    }

    /// <summary>The standard gRPC health service (<c>grpc.health.v1.Health</c>) on the gRPC port, over the same checks as <c>/readyz</c>.</summary>
    public static WebApplication MapChatGrpcHealth(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        return app;
    }
}
