using System.ComponentModel.DataAnnotations;
using Chat.Broker;
using Chat.Logic;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Chat.Host.Hosting;

/// <summary>
/// Where traces go (<c>Chat:Telemetry</c>). Tracing is off unless an OTLP endpoint is configured, here or
/// with OpenTelemetry's own <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>).
/// </summary>
public sealed class TracingOptions : IValidatableObject
{
    public const string Section = "Chat:Telemetry";

    /// <summary>The OTLP collector's address, as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> takes it (http://collector:4317 for gRPC, :4318 for HTTP).</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> or <c>http/protobuf</c>, as <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> takes it; by default OpenTelemetry's (gRPC).</summary>
    public string? OtlpProtocol { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint is { Length: > 0 } endpoint && Endpoint(endpoint) is null)
        {
            yield return new ValidationResult($"{Section}:{nameof(OtlpEndpoint)}: '{endpoint}' is not an http:// or https:// URL such as http://127.0.0.1:4317.", [nameof(OtlpEndpoint)]);
        }

        if (OtlpProtocol is { Length: > 0 } protocol && Protocol(protocol) is null)
        {
            yield return new ValidationResult($"{Section}:{nameof(OtlpProtocol)} must be grpc or http/protobuf, not '{protocol}'.", [nameof(OtlpProtocol)]);
        }
    }

    internal static Uri? Endpoint(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : null;

    internal static OtlpExportProtocol? Protocol(string text) => text switch
    {
        "grpc" => OtlpExportProtocol.Grpc,
        "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
        _ => null,
    };
}

public static class TracingExtensions
{
    /// <summary>Orleans' own spans: each grain call, made and received.</summary>
    private static readonly string[] OrleansSources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>Whether an OTLP endpoint is configured: this shapes the node (listeners, Orleans' call filters), so it is read at build time.</summary>
    public static bool WantsTracing(this IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration[$"{TracingOptions.Section}:{nameof(TracingOptions.OtlpEndpoint)}"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);

    /// <summary>
    /// Traces of the chat's own spans (a DIALOGUE_REQ from the broker's frame through logic's grains to the
    /// push on the receiving broker), ASP.NET Core's, the gRPC client's and Orleans', sent by OTLP; nothing
    /// at all when no endpoint is configured: no listener, so no activity is ever made.
    /// </summary>
    public static WebApplicationBuilder AddChatTracing(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddOptions<TracingOptions>().BindConfiguration(TracingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (!builder.Configuration.WantsTracing())
        {
            return builder;
        }

        var configured = builder.Configuration.GetSection(TracingOptions.Section).Get<TracingOptions>() ?? new TracingOptions();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(tracing => tracing
                .AddSource(BrokerExtensions.ActivitySourceName, LogicExtensions.ActivitySourceName)
                .AddSource(OrleansSources)
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsLongLivedOrProbe(context))
                .AddGrpcClientInstrumentation()
                .AddOtlpExporter(exporter => Configure(exporter, configured)));
        return builder;
    }

    /// <summary>Our settings over OpenTelemetry's own (<c>OTEL_EXPORTER_OTLP_*</c>), if given; a bad one is refused at start, not here.</summary>
    private static void Configure(OtlpExporterOptions exporter, TracingOptions configured)
    {
        if (configured.OtlpProtocol is { Length: > 0 } protocol && TracingOptions.Protocol(protocol) is { } known)
        {
            exporter.Protocol = known;
        }

        if (configured.OtlpEndpoint is { Length: > 0 } text && TracingOptions.Endpoint(text) is { } endpoint)
        {
            // As OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base address, to which HTTP adds the signal's path.
            exporter.Endpoint = exporter.Protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/" ? new Uri(endpoint, "v1/traces") : endpoint;
        }
    }

    /// <summary>
    /// No span for probes, and none for a request that lasts as long as a socket or a stream (a visitor's
    /// WebSocket, a broker's SendStream): each frame or message carried there is a trace of its own.
    /// </summary>
    private static bool IsLongLivedOrProbe(HttpContext context) =>
        context.WebSockets.IsWebSocketRequest
        || context.Request.Path.StartsWithSegments("/proto.LogicDealer/SendStream")
        || context.Request.Path.StartsWithSegments("/healthz") || context.Request.Path.StartsWithSegments("/readyz") || context.Request.Path.StartsWithSegments("/metrics");
}
