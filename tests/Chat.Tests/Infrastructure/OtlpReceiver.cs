using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A stand-in OpenTelemetry collector: OTLP over HTTP with protobuf (<c>POST /v1/traces</c>) on a loopback
/// port, keeping the spans it is sent. It reads only the fields a test looks at (the service that sent a
/// span, its trace id, its own id, its parent's and its name), straight from the wire format.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in ExportRequest.SpansIn(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }

            Interlocked.Exchange(ref receiver._received, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

            context.Response.ContentType = "application/x-protobuf";
            return Results.Bytes([]); // an empty ExportTraceServiceResponse: all accepted
        });
        await app.StartAsync();
        receiver.Endpoint = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        return receiver;
    }

    /// <summary>What <paramref name="find"/> finds among the spans received, looked for again after each export until found or <paramref name="limit"/> passed.</summary>
    public async Task<T> WaitForAsync<T>(Func<IReadOnlyList<ReceivedSpan>, T?> find, TimeSpan limit, Func<string> what)
        where T : class
    {
        using var deadline = new CancellationTokenSource(limit);
        while (true)
        {
            var next = Volatile.Read(ref _received).Task;
            if (find([.. _spans]) is { } found)
            {
                return found;
            }

            try
            {
                await next.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{what()}: not within {limit.TotalSeconds:0} s");
            }
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>The parts of opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest a test reads.</summary>
    private static class ExportRequest
    {
        public static IEnumerable<ReceivedSpan> SpansIn(byte[] request)
        {
            foreach (var resourceSpans in Fields(request, 1)) // resource_spans
            {
                var service = Fields(resourceSpans, 1).SelectMany(resource => Fields(resource, 1)) // resource.attributes
                    .Select(Attribute).FirstOrDefault(kv => kv.Key == "service.name").Value ?? string.Empty;
                foreach (var span in Fields(resourceSpans, 2).SelectMany(scopeSpans => Fields(scopeSpans, 2))) // scope_spans.spans
                {
                    yield return new ReceivedSpan(
                        service,
                        Convert.ToHexStringLower(Fields(span, 1).FirstOrDefault() ?? []),
                        Convert.ToHexStringLower(Fields(span, 2).FirstOrDefault() ?? []),
                        Convert.ToHexStringLower(Fields(span, 4).FirstOrDefault() ?? []),
                        System.Text.Encoding.UTF8.GetString(Fields(span, 5).FirstOrDefault() ?? []));
                }
            }
        }

        /// <summary>A KeyValue whose value is a string (AnyValue.string_value).</summary>
        private static (string Key, string? Value) Attribute(byte[] keyValue)
        {
            var key = System.Text.Encoding.UTF8.GetString(Fields(keyValue, 1).FirstOrDefault() ?? []);
            var value = Fields(keyValue, 2).SelectMany(any => Fields(any, 1)).Select(v => System.Text.Encoding.UTF8.GetString(v)).FirstOrDefault();
            return (key, value);
        }

        /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message, in order; others are skipped.</summary>
        private static List<byte[]> Fields(byte[] message, int number)
        {
            var found = new List<byte[]>();
            var input = new CodedInputStream(message);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    found.Add(input.ReadBytes().ToByteArray());
                }
                else
                {
                    input.SkipLastField();
                }
            }

            return found;
        }
    }
}

/// <summary>A span as a collector received it; ids in lower-case hex (a root span's parent is empty).</summary>
public sealed record ReceivedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name);
