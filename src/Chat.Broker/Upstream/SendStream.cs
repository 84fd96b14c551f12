using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Protocol.Grpc;
using Grpc.Core;
using LogicClient = Chat.Protocol.Grpc.LogicDealer.LogicDealerClient;

namespace Chat.Broker.Upstream;

/// <summary>
/// The broker's end of <c>LogicDealer.SendStream</c> to one logic node: one long-lived call that
/// carries every visitor's message to that node, each numbered, each answered by number. It
/// behaves like a unary <c>SendMsg</c> to its callers: <see cref="SendAsync"/> returns the answer
/// or throws an <see cref="RpcException"/> (the stream broke: Unavailable; logic failed the send:
/// Unknown; no answer in time is the caller's timeout cancelling the wait), so <see cref="GrpcLogic"/> retries it on
/// another node exactly as it would a unary call. A broken stream fails every send waiting on it
/// and is replaced by a new one on the next send.
/// </summary>
internal sealed class SendStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<SendMsgRequest, SendMsgResponse> _call;
    private readonly Channel<SendMsgRequest> _outgoing = Channel.CreateUnbounded<SendMsgRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<SendMsgResponse>> _waiting = new();
    private readonly CancellationTokenSource _ended = new();
    private long _nextCall;
    private volatile bool _broken;

    public SendStream(LogicClient client, Metadata headers)
    {
        _call = client.SendStream(headers, cancellationToken: _ended.Token);
        _ = WriteAsync();
        _ = ReadAsync();
    }

    /// <summary>False once the stream has failed: take a new one.</summary>
    public bool Usable => !_broken;

    public async Task<SendMsgResponse> SendAsync(SendMsgRequest request, CancellationToken cancellationToken)
    {
        var call = (ulong)Interlocked.Increment(ref _nextCall);
        var answer = new TaskCompletionSource<SendMsgResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[call] = answer;
        request.Call = call;
        if (_broken || !_outgoing.Writer.TryWrite(request))
        {
            _waiting.TryRemove(call, out _);
            throw new RpcException(new Status(StatusCode.Unavailable, "the send stream to this logic node is broken"));
        }

        try
        {
            var response = await answer.Task.WaitAsync(cancellationToken);
            return response.Failed ? throw new RpcException(new Status(StatusCode.Unknown, "the logic node failed the send")) : response;
        }
        finally
        {
            _waiting.TryRemove(call, out _);
        }
    }

    public void Dispose() => Break(new Status(StatusCode.Cancelled, "the broker is stopping"));

    private async Task WriteAsync()
    {
        try
        {
            await foreach (var request in _outgoing.Reader.ReadAllAsync(_ended.Token))
            {
                await _call.RequestStream.WriteAsync(request, _ended.Token);
            }
        }
        catch (Exception ex)
        {
            Break(ex is RpcException rpc ? rpc.Status : new Status(StatusCode.Unavailable, ex.Message));
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            await foreach (var response in _call.ResponseStream.ReadAllAsync(_ended.Token))
            {
                if (_waiting.TryGetValue(response.Call, out var answer))
                {
                    answer.TrySetResult(response);
                }
            }

            Break(new Status(StatusCode.Unavailable, "the logic node ended the send stream"));
        }
        catch (Exception ex)
        {
            Break(ex is RpcException rpc ? rpc.Status : new Status(StatusCode.Unavailable, ex.Message));
        }
    }

    /// <summary>Fails every send waiting on this stream (their callers try another node) and ends the call.</summary>
    private void Break(Status status)
    {
        if (_broken)
        {
            return;
        }

        _broken = true;
        _outgoing.Writer.TryComplete();
        var failure = new RpcException(status.StatusCode is StatusCode.OK or StatusCode.Cancelled ? new Status(StatusCode.Unavailable, status.Detail) : status);
        foreach (var answer in _waiting.Values)
        {
            answer.TrySetException(failure);
        }

        _ended.Cancel();
        _call.Dispose();
    }
}
