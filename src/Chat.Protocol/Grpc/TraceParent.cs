using System.Diagnostics;

namespace Chat.Protocol.Grpc;

/// <summary>
/// The W3C trace context (<c>traceparent</c>) a message between nodes carries in a field of its own when one
/// call carries many messages (SendStream, Deliver), so that each message joins its own trace. Empty when
/// tracing is off: nothing is sent, nothing is parsed.
/// </summary>
public static class TraceParent
{
    /// <summary>The current activity's context, or empty without one (tracing off).</summary>
    public static string OfCurrent() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id ?? string.Empty : string.Empty;

    /// <summary>The context a message carried, or default (no parent) if it carried none.</summary>
    public static ActivityContext Parse(string traceparent) =>
        traceparent.Length > 0 && ActivityContext.TryParse(traceparent, null, out var context) ? context : default;

    /// <summary>
    /// A span that starts a trace of its own (a frame on a socket whose request is an activity that lasts as
    /// long as the socket); null, touching nothing, while tracing is off. It is not made the current activity.
    /// </summary>
    public static Activity? StartRoot(ActivitySource source, string name, ActivityKind kind) =>
        source.HasListeners() ? Detached(() => source.StartActivity(name, kind)) : null;

    /// <summary>
    /// Runs <paramref name="start"/> outside any activity: a long-lived loop or call started during one
    /// message's handling must not make every later message a part of that message's trace.
    /// </summary>
    public static T Detached<T>(Func<T> start)
    {
        var current = Activity.Current;
        if (current is null)
        {
            return start();
        }

        Activity.Current = null;
        try
        {
            return start();
        }
        finally
        {
            Activity.Current = current;
        }
    }
}

/// <summary>
/// A node's own spans, by source name. Nothing listens unless tracing is on (an OTLP endpoint is configured),
/// and only then is an activity made: <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null otherwise.
/// </summary>
public abstract class SpanSource(string name) : IDisposable
{
    public ActivitySource Source { get; } = new(name);

    public void Dispose()
    {
        Source.Dispose();
        GC.SuppressFinalize(this);
    }
}
