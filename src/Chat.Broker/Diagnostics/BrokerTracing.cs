using System.Diagnostics;

namespace Chat.Broker.Diagnostics;

/// <summary>
/// The broker's spans: a client's DIALOGUE_REQ as it leaves for logic, and each push as it arrives from
/// logic. Nothing listens unless tracing is on (an OTLP endpoint is configured), and then only is an
/// activity made: <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null otherwise.
/// </summary>
internal sealed class BrokerTracing : IDisposable
{
    public const string SourceName = "Chat.Broker";

    public ActivitySource Source { get; } = new(SourceName);

    public void Dispose() => Source.Dispose();
}
