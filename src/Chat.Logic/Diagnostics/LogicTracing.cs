using Chat.Protocol.Grpc;

namespace Chat.Logic.Diagnostics;

/// <summary>Logic's spans: each send a broker hands over (the grain calls beneath it are Orleans' own spans).</summary>
internal sealed class LogicTracing() : SpanSource(SourceName)
{
    public const string SourceName = "Chat.Logic";
}
