using System.Diagnostics;
using Chat.Broker.Connections;
using Chat.Broker.Diagnostics;
using Chat.Protocol.Grpc;
using Chat.Protocol.Seams;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Grpc;

/// <summary>
/// The seed's <c>Broker</c> service: pushes from logic nodes to this broker's sockets. Our logic
/// names the socket (connection id) and sends live pushes in ordered batches (<c>Deliver</c>);
/// a push for a socket that is not here (closed, or of an earlier start of this broker) is
/// answered NoDataFound, and the message waits in the store for the client's next reconnect.
/// Only logic nodes may call it (with TLS a broker's certificate is refused before the service sees the
/// call); connection ids are random, so a push must name a socket logic was told of.
/// </summary>
internal sealed class BrokerPushService(LocalPushChannel sockets, ConnectionRegistry registry, INodeLinks links, BrokerTracing tracing, IOptions<BrokerOptions> options) : global::Chat.Protocol.Grpc.Broker.BrokerBase
{
    private readonly string _address = options.Value.Address;

    public override async Task<PushResp> ReceiveMsgDialogue(PushDialogue request, ServerCallContext context) =>
        Answer(await sockets.PushDialogueAsync(At(request.ConnectionId), request.FromProto(), context.CancellationToken));

    public override async Task<PushResp> ReceiveMsgSignal(PushSignal request, ServerCallContext context) =>
        Answer(await sockets.PushSignalAsync(At(request.ConnectionId), request.FromProto(), context.CancellationToken));

    public override async Task<PushBatchResult> Deliver(PushBatch request, ServerCallContext context)
    {
        var result = new PushBatchResult();
        foreach (var push in request.Pushes)
        {
            // Each push joins the trace it was made in (a batch carries many); none is made with tracing off.
            using var span = push.Traceparent.Length > 0 ? tracing.Source.StartActivity(push.KindCase == Push.KindOneofCase.Dialogue ? "PUSH_DIALOGUE_REQ" : "PUSH_SIGNAL", ActivityKind.Consumer, TraceParent.Parse(push.Traceparent)) : null;
            // Live pushes never wait for room (a socket that cannot take one is too slow and is dropped).
            var delivered = push.KindCase switch
            {
                Push.KindOneofCase.Dialogue => await sockets.PushDialogueAsync(At(push.Dialogue.ConnectionId), Live(push.Dialogue.FromProto()), context.CancellationToken),
                Push.KindOneofCase.Signal => await sockets.PushSignalAsync(At(push.Signal.ConnectionId), push.Signal.FromProto(), context.CancellationToken),
                _ => false,
            };
            result.Delivered.Add(delivered);
        }

        return result;
    }

    public override async Task<PushResp> Disconnect(DisconnectRequest request, ServerCallContext context)
    {
        await sockets.DisconnectAsync(At(request.ConnectionId), context.CancellationToken);
        return new PushResp { Code = CodeEnum.Success };
    }

    /// <summary>Alive; the incarnation (this start) is told to logic only, which compares it with the one the broker's bindings carry.</summary>
    public override Task<HealthCheckResp> HealthCheck(HealthCheckReq request, ServerCallContext context) =>
        Task.FromResult(new HealthCheckResp
        {
            Code = CodeEnum.Success,
            Incarnation = links.CallerOf(context).MayBeLogic ? registry.Incarnation.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Empty,
        });

    private ClientEndpoint At(ulong connectionId) => new(_address, connectionId);

    /// <summary>A batch carries live pushes only (logic sends replays one by one): a copy only for one marked otherwise.</summary>
    private static DialoguePush Live(DialoguePush push) => push.Replay ? push with { Replay = false } : push;

    private static PushResp Answer(bool delivered) => new() { Code = delivered ? CodeEnum.Success : CodeEnum.NoDataFound };
}
