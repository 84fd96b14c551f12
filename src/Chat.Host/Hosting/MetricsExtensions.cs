using System.Net;
using Chat.Broker;
using Chat.Logic;
using OpenTelemetry.Metrics;

namespace Chat.Host.Hosting;

public static class MetricsExtensions
{
    public const string Section = "Chat:Metrics";

    /// <summary>Prometheus metrics from the chat's meters and Kestrel's own.</summary>
    public static IServiceCollection AddChatMetrics(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(BrokerExtensions.MeterName, LogicExtensions.MeterName)
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>
    /// <c>/metrics</c> in Prometheus text format. Only loopback callers may read it unless
    /// <c>Chat:Metrics:AllowRemote</c> is true: a public chat should not publish its internals.
    /// </summary>
    public static WebApplication MapChatMetrics(this WebApplication app)
    {
        var allowRemote = app.Configuration.GetValue<bool>($"{Section}:AllowRemote");
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments("/metrics") && !allowRemote &&
                       !(context.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip)),
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
}
