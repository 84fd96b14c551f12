using System.Net;
using Chat.Broker;
using Chat.Logic;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Chat.Host.Hosting;

/// <summary>Who may read <c>/metrics</c> (<c>Chat:Metrics</c>).</summary>
public sealed class MetricsOptions
{
    public const string Section = "Chat:Metrics";

    /// <summary>Whether callers other than loopback may read <c>/metrics</c>: a public chat should not publish its internals.</summary>
    public bool AllowRemote { get; set; }
}

public static class MetricsExtensions
{
    /// <summary>Polly's meter: the retries, timeouts and give-ups of the pipelines between nodes.</summary>
    public const string ResilienceMeterName = "Polly";

    /// <summary>Prometheus metrics from the chat's meters, Polly's and Kestrel's own.</summary>
    public static IServiceCollection AddChatMetrics(this IServiceCollection services)
    {
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).ValidateOnStart();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(BrokerExtensions.MeterName, LogicExtensions.MeterName, ResilienceMeterName)
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>
    /// <c>/metrics</c> in Prometheus text format. Only loopback callers may read it unless
    /// <c>Chat:Metrics:AllowRemote</c> is true. A request that still carries <c>X-Forwarded-For</c>
    /// came through a proxy this node does not believe (<c>Chat:Cluster:TrustedProxies</c>), so its
    /// caller is unknown: it is not taken for loopback because the proxy is.
    /// </summary>
    public static WebApplication MapChatMetrics(this WebApplication app)
    {
        var allowRemote = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.AllowRemote;
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments("/metrics") && !allowRemote && !IsLocalCaller(context),
            branch => branch.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }));
        // The live counts (online, waiting, sessions) come from the store; read them before the exporter asks the gauges.
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments("/metrics"),
            branch => branch.Use(async (context, next) =>
            {
                await context.RequestServices.ReadLiveCountsAsync(context.RequestAborted);
                await next(context);
            }));
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static bool IsLocalCaller(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip) && !context.Request.Headers.ContainsKey("X-Forwarded-For");
}
