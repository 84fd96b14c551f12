using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Logic.Housekeeping;
using Chat.Protocol.Grpc;
using Chat.Protocol.Seams;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using Polly.Timeout;
using BrokerClient = Chat.Protocol.Grpc.Broker.BrokerClient;

namespace Chat.Logic.Grpc;

/// <summary>
/// Logic's pushes to brokers over the seed's <c>Broker</c> service, one link per broker address.
/// Live pushes to one broker leave in the order they were handed over, many per call
/// (<c>Deliver</c>), one call in flight at a time: the order a session grain pushes in is the
/// order the broker queues them. A replay waits for its answer (it stops when the socket is
/// gone). A broker that sent no connection id is the seed's: it gets the seed's calls, one push
/// each, and only the signals it knows. Live pushes are retried through the <see cref="PushResilience.Push"/>
/// pipeline, the brokers' health checks bounded by <see cref="PushResilience.BrokerCheck"/>.
/// </summary>
internal sealed partial class GrpcPushChannel(
    ClusterSecret secret,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<PushOptions> options,
    ILogger<GrpcPushChannel> logger) : IPushChannel, IBrokerProbe, IAsyncDisposable
{
    private readonly ResiliencePipeline _pushes = pipelines.GetPipeline(PushResilience.Push);
    private readonly ResiliencePipeline _checks = pipelines.GetPipeline(PushResilience.BrokerCheck);
    private readonly PushOptions _options = options.Value;
    private readonly ClusterSecret _secret = secret;
    private readonly ILogger _logger = logger;

    // Lazy: a link starts a loop, so two racing callers must not both make one.
    private readonly ConcurrentDictionary<string, Lazy<BrokerLink>> _links = new();

    public ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken)
    {
        var link = LinkTo(to.Broker);
        if (push.Replay)
        {
            return link.ReplayAsync(push.ToProto(to.ConnectionId), cancellationToken);
        }

        return ValueTask.FromResult(link.Enqueue(new Push { Dialogue = push.ToProto(to.ConnectionId), Traceparent = TraceParent.OfCurrent() }));
    }

    public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken)
    {
        if (to.ConnectionId == 0 && !push.Kind.IsSeeds())
        {
            return ValueTask.FromResult(false);
        }

        return ValueTask.FromResult(LinkTo(to.Broker).Enqueue(new Push { Signal = push.ToProto(to.ConnectionId), Traceparent = TraceParent.OfCurrent() }));
    }

    public async ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        if (to.ConnectionId != 0)
        {
            await LinkTo(to.Broker).DisconnectAsync(to.ConnectionId, cancellationToken);
        }
    }

    /// <summary>Whether the broker answers its health check in time (<see cref="LogicOptions.BrokerCheckTimeout"/>).</summary>
    public async Task<bool> IsReachableAsync(string broker, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await _checks.ExecuteAsync(
                static (state, token) => GrpcTimeouts.WithinAsync(state.Client.HealthCheckAsync(new HealthCheckReq { Asker = "logic" }, state.Headers, cancellationToken: token).ResponseAsync, token),
                (LinkTo(broker).Client, _secret.Headers),
                cancellationToken);
            return answer.Code == CodeEnum.Success;
        }
        catch (Exception ex) when (ex is RpcException or TimeoutRejectedException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var link in _links.Values)
        {
            await link.Value.DisposeAsync();
        }
    }

    // Every push comes through here: the known link without a new factory delegate each time.
    private BrokerLink LinkTo(string broker) => _links.TryGetValue(broker, out var link)
        ? link.Value
        : _links.GetOrAdd(broker, address => new Lazy<BrokerLink>(() => new BrokerLink(address, this))).Value;

    /// <summary>One broker: its channel, and the ordered queue of live pushes with the one loop that sends them.</summary>
    private sealed class BrokerLink : IAsyncDisposable
    {
        private readonly string _broker;
        private readonly ClusterSecret _secret;
        private readonly ILogger _logger;
        private readonly ResiliencePipeline _pushes;
        private readonly int _maxBatch;
        private readonly GrpcChannel _channel;
        private readonly Channel<Push> _queue;
        private readonly CancellationTokenSource _stopping = new();
        private readonly Task _sending;

        public BrokerLink(string broker, GrpcPushChannel owner)
        {
            _broker = broker;
            _secret = owner._secret;
            _logger = owner._logger;
            _pushes = owner._pushes;
            _maxBatch = owner._options.MaxBatch;
            _queue = Channel.CreateBounded<Push>(new BoundedChannelOptions(owner._options.MaxWaiting)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.DropWrite,
            });
            _channel = GrpcChannel.ForAddress($"http://{broker}");
            Client = new BrokerClient(_channel);
            _sending = TraceParent.Detached(SendAsync); // the loop outlives the push that started it
        }

        public BrokerClient Client { get; }

        public bool Enqueue(Push push) => _queue.Writer.TryWrite(push);

        public async ValueTask<bool> ReplayAsync(PushDialogue push, CancellationToken cancellationToken)
        {
            try
            {
                var answer = await Client.ReceiveMsgDialogueAsync(push, _secret.Headers, cancellationToken: cancellationToken);
                return answer.Code == CodeEnum.Success;
            }
            catch (RpcException ex)
            {
                Log.PushFailed(_logger, _broker, ex);
                return false; // the replay stops; the client's next reconnect replays again
            }
        }

        public async ValueTask DisconnectAsync(ulong connectionId, CancellationToken cancellationToken)
        {
            try
            {
                await Client.DisconnectAsync(new DisconnectRequest { ConnectionId = connectionId }, _secret.Headers, cancellationToken: cancellationToken);
            }
            catch (RpcException ex)
            {
                Log.PushFailed(_logger, _broker, ex); // a broker we cannot reach cannot keep that socket for long either
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_queue.Writer.TryComplete())
            {
                return; // disposed already (the container may reach it through two registrations)
            }

            await _stopping.CancelAsync();
            await _sending;

            _stopping.Dispose();
            _channel.Dispose();
        }

        private async Task SendAsync()
        {
            try
            {
                await SendAllAsync();
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
        }

        private async Task SendAllAsync()
        {
            var reader = _queue.Reader;
            var batch = new PushBatch();
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                batch.Pushes.Clear();
                while (batch.Pushes.Count < _maxBatch && reader.TryPeek(out var next))
                {
                    if (IsForSeedsBroker(next))
                    {
                        if (batch.Pushes.Count > 0)
                        {
                            break; // what came before it leaves first
                        }

                        reader.TryRead(out _);
                        await SendOneAsync(next);
                        continue;
                    }

                    reader.TryRead(out _);
                    batch.Pushes.Add(next);
                }

                if (batch.Pushes.Count > 0)
                {
                    await SendBatchAsync(batch);
                }
            }
        }

        private static bool IsForSeedsBroker(Push push) =>
            (push.KindCase == Push.KindOneofCase.Dialogue ? push.Dialogue.ConnectionId : push.Signal.ConnectionId) == 0;

        private Task SendBatchAsync(PushBatch batch) => WithRetriesAsync(
            static (link, batch, token) => link.Client.DeliverAsync(batch, link._secret.Headers, cancellationToken: token).ResponseAsync,
            batch,
            batch.Pushes.Count);

        private Task SendOneAsync(Push push) => WithRetriesAsync(
            static (link, push, token) => push.KindCase == Push.KindOneofCase.Dialogue
                ? link.Client.ReceiveMsgDialogueAsync(push.Dialogue, link._secret.Headers, cancellationToken: token).ResponseAsync
                : link.Client.ReceiveMsgSignalAsync(push.Signal, link._secret.Headers, cancellationToken: token).ResponseAsync,
            push,
            1);

        /// <summary>Sends through the <see cref="PushResilience.Push"/> pipeline: until it goes through, or until the pipeline gives up.</summary>
        private async Task WithRetriesAsync<TWhat, TAnswer>(Func<BrokerLink, TWhat, CancellationToken, Task<TAnswer>> send, TWhat what, int pushes)
        {
            try
            {
                await _pushes.ExecuteAsync(
                    static (state, token) => GrpcTimeouts.WithinAsync(state.send(state.link, state.what, token), token),
                    (send, link: this, what),
                    _stopping.Token);
            }
            catch (TimeoutRejectedException ex)
            {
                Log.GaveUp(_logger, pushes, _broker, ex);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A push to broker {Broker} failed.")]
        public static partial void PushFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Gave up {Count} pushes to broker {Broker}: it did not take them in time; they wait in the store for the clients' reconnects.")]
        public static partial void GaveUp(ILogger logger, int count, string broker, Exception exception);
    }
}
