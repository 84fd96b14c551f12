using System.Diagnostics.Metrics;
using Chat.Broker.Connections;
using Chat.Protocol.Frames;

namespace Chat.Broker.Diagnostics;

/// <summary>The broker's instruments (meter <c>Chat.Broker</c>).</summary>
internal sealed class BrokerMetrics
{
    public const string MeterName = "Chat.Broker";

    private readonly Counter<long> _frames;
    private readonly Counter<long> _pushes;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _closedByServer;
    private readonly Counter<long> _limitsUnchecked;
    private readonly Counter<long> _socketsRefused;

    public BrokerMetrics(IMeterFactory meters, ConnectionRegistry registry)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableUpDownCounter("chat.broker.connections", () => registry.Count, "{connection}", "Open client sockets.");
        _frames = meter.CreateCounter<long>("chat.broker.frames.received", "{frame}", "Client frames read.");
        _pushes = meter.CreateCounter<long>("chat.broker.pushes.queued", "{frame}", "Server frames queued for sockets.");
        _rateLimited = meter.CreateCounter<long>("chat.broker.rate_limited", "{frame}", "Frames refused by the per-connection rate limit.");
        _errors = meter.CreateCounter<long>("chat.broker.errors", "{response}", "Responses with a non-zero code, by code.");
        _closedByServer = meter.CreateCounter<long>("chat.broker.closed_by_server", "{connection}", "Sockets the server closed, by close status.");
        _limitsUnchecked = meter.CreateCounter<long>("chat.broker.limits.unchecked", "{check}", "Per-address limits no logic node could check, so the request went ahead, by kind.");
        _socketsRefused = meter.CreateCounter<long>("chat.broker.sockets.refused", "{connection}", "WebSocket upgrades refused because the server held as many sockets as it may.");
    }

    public void FrameReceived() => _frames.Add(1);

    public void PushQueued() => _pushes.Add(1);

    public void RateLimited() => _rateLimited.Add(1);

    public void Error(ResultCode code) => _errors.Add(1, new KeyValuePair<string, object?>("code", (int)code));

    public void LimitUnchecked(string kind) => _limitsUnchecked.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void ClosedByServer(int status) => _closedByServer.Add(1, new KeyValuePair<string, object?>("status", status));

    public void SocketRefused() => _socketsRefused.Add(1);
}
