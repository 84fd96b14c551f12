using System.Diagnostics;

namespace Chat.Logic.Diagnostics;

/// <summary>
/// Logic's spans: each send a broker hands over (the grain calls beneath it are Orleans' own spans). Nothing
/// listens unless tracing is on (an OTLP endpoint is configured), and then only is an activity made.
/// </summary>
internal sealed class LogicTracing : IDisposable
{
    public const string SourceName = "Chat.Logic";

    public ActivitySource Source { get; } = new(SourceName);

    public void Dispose() => Source.Dispose();
}
