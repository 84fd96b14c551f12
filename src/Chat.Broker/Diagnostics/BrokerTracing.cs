using Chat.Protocol.Grpc;

namespace Chat.Broker.Diagnostics;

/// <summary>The broker's spans: a client's DIALOGUE_REQ as it leaves for logic, and each push as it arrives from logic.</summary>
internal sealed class BrokerTracing() : SpanSource(SourceName)
{
    public const string SourceName = "Chat.Broker";
}
