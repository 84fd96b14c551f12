using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Logic.Diagnostics;
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
/// <remarks>
/// A broker is dialed at the address its accounts are bound to; with TLS the handshake fails unless its
/// certificate is a broker's of the cluster naming that address, so nothing is pushed anywhere else. An
/// address that is not host:port gets no link at all (its pushes are refused, its checks fail, so its
/// accounts are released), and a link idle for <see cref="PushOptions.IdleLinkTimeout"/> is closed.
/// </remarks>
internal sealed partial class GrpcPushChannel : IPushChannel, IBrokerProbe, IAsyncDisposable
{
    private readonly ResiliencePipeline _pushes;
    private readonly ResiliencePipeline _checks;
    private readonly PushOptions _options;
    private readonly INodeLinks _nodes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _pruning;

    // Lazy: a link starts a loop, so two racing callers must not both make one.
    private readonly ConcurrentDictionary<string, Lazy<BrokerLink>> _links = new();

    public GrpcPushChannel(INodeLinks nodes, ResiliencePipelineProvider<string> pipelines, IOptions<PushOptions> options, LogicMetrics metrics, TimeProvider time, ILogger<GrpcPushChannel> logger)
    {
        _pushes = pipelines.GetPipeline(PushResilience.Push);
        _checks = pipelines.GetPipeline(PushResilience.BrokerCheck);
        _options = options.Value;
        _nodes = nodes;
        _time = time;
        _logger = logger;
        metrics.ObserveBrokerLinks(() => _links.Count);
        _pruning = PruneAsync(_stopping.Token);
    }

    public ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken)
    {
        if (push.Replay)
        {
            return LinkTo(to.Broker) is { } link ? link.ReplayAsync(push.ToProto(to.ConnectionId), cancellationToken) : ValueTask.FromResult(false);
        }

        return ValueTask.FromResult(Enqueue(to.Broker, new Push { Dialogue = push.ToProto(to.ConnectionId), Traceparent = TraceParent.OfCurrent() }));
    }

    public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken)
    {
        if (to.ConnectionId == 0 && !push.Kind.IsSeeds())
        {
            return ValueTask.FromResult(false);
        }

        return ValueTask.FromResult(Enqueue(to.Broker, new Push { Signal = push.ToProto(to.ConnectionId), Traceparent = TraceParent.OfCurrent() }));
    }

    public void Recall(ClientEndpoint to)
    {
        if (to.ConnectionId != 0 && _links.TryGetValue(to.Broker, out var link) && link.IsValueCreated)
        {
            link.Value.Recall(to.ConnectionId); // no link: nothing waits for that broker
            link.Value.ResetIfStuck(); // what the kernel still holds of its unanswered calls must never arrive
        }
    }

    public async ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        if (to.ConnectionId != 0 && LinkTo(to.Broker) is { } link)
        {
            await link.DisconnectAsync(to.ConnectionId, cancellationToken);
        }
    }

    /// <summary>
    /// Whether the broker answers its health check in time (<see cref="LogicOptions.BrokerCheckTimeout"/>). Any
    /// failure is "no": a check that threw would stop the housekeeper's checks of every other broker too.
    /// </summary>
    public async Task<long?> AnswerAsync(string broker, CancellationToken cancellationToken)
    {
        try
        {
            if (LinkTo(broker) is not { } link)
            {
                return null;
            }

            var answer = await _checks.ExecuteAsync(
                static (state, token) => GrpcTimeouts.WithinAsync(state.Client.HealthCheckAsync(new HealthCheckReq { Asker = "logic" }, state.Headers, cancellationToken: token).ResponseAsync, token),
                (link.Client, _nodes.Headers),
                cancellationToken);
            if (answer.Code != CodeEnum.Success)
            {
                return null;
            }

            return long.TryParse(answer.Incarnation, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var incarnation) ? incarnation : 0;
        }
        catch (Exception ex) when (ex is RpcException or TimeoutRejectedException or ObjectDisposedException)
        {
            return null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Log.CheckFailed(_logger, broker, ex);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return; // disposed already (the container may reach it through two registrations)
        }

        await _stopping.CancelAsync();
        await _pruning;
        foreach (var link in _links.Values)
        {
            await link.Value.DisposeAsync();
        }

        _stopping.Dispose();
    }

    /// <summary>A live push into the broker's queue; false if the queue is full or the address is not one (it waits in the store).</summary>
    private bool Enqueue(string broker, Push push)
    {
        while (LinkTo(broker) is { } link)
        {
            if (link.Enqueue(push))
            {
                return true;
            }

            if (!link.Closed)
            {
                return false; // full
            }

            // Closed for idleness between finding it and writing to it: the next LinkTo makes a new one.
        }

        return false;
    }

    // Every push comes through here: the known link without a new factory delegate each time.
    private BrokerLink? LinkTo(string broker)
    {
        if (!_links.TryGetValue(broker, out var link))
        {
            if (NodeAddress.Problem(broker) is not null)
            {
                return null; // never dialed: not an address (no broker of ours names one like it)
            }

            link = _links.GetOrAdd(broker, address => new Lazy<BrokerLink>(() => new BrokerLink(address, this)));
        }

        BrokerLink value;
        try
        {
            value = link.Value;
        }
        catch (Exception ex)
        {
            _links.TryRemove(new KeyValuePair<string, Lazy<BrokerLink>>(broker, link)); // not kept: the next push tries again
            Log.LinkFailed(_logger, broker, ex);
            return null;
        }

        value.Touch(_time.GetTimestamp());
        return value;
    }

    /// <summary>Closes the links that carried nothing for <see cref="PushOptions.IdleLinkTimeout"/> (a broker that is gone is asked nothing).</summary>
    private async Task PruneAsync(CancellationToken stopping)
    {
        var idle = _options.IdleLinkTimeout;
        using var timer = new PeriodicTimer(idle / 2, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                var now = _time.GetTimestamp();
                foreach (var (broker, link) in _links)
                {
                    if (link.IsValueCreated && link.Value.IdleFor(now, _time) >= idle && _links.TryRemove(new KeyValuePair<string, Lazy<BrokerLink>>(broker, link)))
                    {
                        Log.LinkClosed(_logger, broker, idle);
                        await link.Value.DisposeAsync();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>One broker: its channel, and the ordered queue of live pushes with the one loop that sends them.</summary>
    private sealed class BrokerLink : IAsyncDisposable
    {
        private readonly string _broker;
        private readonly Metadata _headers;
        private readonly ILogger _logger;
        private readonly ResiliencePipeline _pushes;
        private readonly int _maxBatch;
        private readonly GrpcPushChannel _owner;
        private GrpcChannel _channel;
        private long _attemptStartedAt; // a Deliver sent and not answered yet (a timestamp; 0: none)
        private readonly Channel<(Push Push, long Seq)> _queue;

        // Sockets whose pushes are dropped (Recall): those handed over up to the number kept here.
        private readonly ConcurrentDictionary<ulong, long> _recalled = new();
        private long _seq;
        private readonly CancellationTokenSource _stopping = new();
        private readonly Task _sending;
        private long _usedAt;
        private volatile bool _closed;

        public BrokerLink(string broker, GrpcPushChannel owner)
        {
            _broker = broker;
            _headers = owner._nodes.Headers;
            _logger = owner._logger;
            _pushes = owner._pushes;
            _maxBatch = owner._options.MaxBatch;
            _queue = Channel.CreateBounded<(Push, long)>(new BoundedChannelOptions(owner._options.MaxWaiting)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.DropWrite,
            });
            _owner = owner;
            _channel = owner._nodes.ChannelTo(broker, NodeRole.Broker);
            Client = new BrokerClient(_channel);
            _usedAt = owner._time.GetTimestamp();
            _sending = TraceParent.Detached(SendAsync); // the loop outlives the push that started it
        }

        public BrokerClient Client { get; private set; }

        /// <summary>
        /// A call has waited for the broker's answer for a second or more (it does not answer: cut off, or dead): the
        /// connection is dropped (abortively, so nothing it still holds leaves once the network heals) and the next
        /// attempt dials afresh.
        /// </summary>
        public void ResetIfStuck()
        {
            var started = Volatile.Read(ref _attemptStartedAt);
            if (started == 0 || _owner._time.GetElapsedTime(started) < TimeSpan.FromSeconds(1) || _closed)
            {
                return;
            }

            Volatile.Write(ref _attemptStartedAt, 0);
            var old = _channel;
            _channel = _owner._nodes.ChannelTo(_broker, NodeRole.Broker);
            Client = new BrokerClient(_channel);
            old.Dispose(); // its calls fail and are tried again on the new connection
        }

        /// <summary>Disposed: take a new link.</summary>
        public bool Closed => _closed;

        public void Touch(long now) => Volatile.Write(ref _usedAt, now);

        /// <summary>How long since it was last used, while nothing waits in its queue.</summary>
        public TimeSpan IdleFor(long now, TimeProvider time) => _queue.Reader.Count > 0 ? TimeSpan.Zero : time.GetElapsedTime(Volatile.Read(ref _usedAt), now);

        public bool Enqueue(Push push) => _queue.Writer.TryWrite((push, Interlocked.Increment(ref _seq)));

        public void Recall(ulong connectionId) => _recalled[connectionId] = Interlocked.Read(ref _seq);

        public async ValueTask<bool> ReplayAsync(PushDialogue push, CancellationToken cancellationToken)
        {
            try
            {
                var answer = await Client.ReceiveMsgDialogueAsync(push, _headers, cancellationToken: cancellationToken);
                return answer.Code == CodeEnum.Success;
            }
            catch (Exception ex) when (ex is RpcException or ObjectDisposedException)
            {
                Log.PushFailed(_logger, _broker, ex);
                return false; // the replay stops; the client's next reconnect replays again
            }
        }

        public async ValueTask DisconnectAsync(ulong connectionId, CancellationToken cancellationToken)
        {
            try
            {
                await Client.DisconnectAsync(new DisconnectRequest { ConnectionId = connectionId }, _headers, cancellationToken: cancellationToken);
            }
            catch (Exception ex) when (ex is RpcException or ObjectDisposedException)
            {
                Log.PushFailed(_logger, _broker, ex); // a broker we cannot reach cannot keep that socket for long either
            }
        }

        public async ValueTask DisposeAsync()
        {
            _closed = true;
            if (!_queue.Writer.TryComplete())
            {
                return; // disposed already
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
            var batch = new Batch();
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                batch.Clear();
                while (batch.Count < _maxBatch && reader.TryPeek(out var next))
                {
                    if (IsForSeedsBroker(next.Push))
                    {
                        if (batch.Count > 0)
                        {
                            break; // what came before it leaves first
                        }

                        reader.TryRead(out _);
                        await SendOneAsync(next.Push);
                        continue;
                    }

                    reader.TryRead(out _);
                    if (!IsRecalled(next.Push, next.Seq))
                    {
                        batch.Add(next.Push, next.Seq);
                    }
                }

                if (batch.Count > 0)
                {
                    await SendBatchAsync(batch);
                }
            }
        }

        private static bool IsForSeedsBroker(Push push) => ConnectionOf(push) == 0;

        private static ulong ConnectionOf(Push push) => push.KindCase == Push.KindOneofCase.Dialogue ? push.Dialogue.ConnectionId : push.Signal.ConnectionId;

        /// <summary>Whether the push (handed over as number <paramref name="seq"/>) was for a socket recalled since.</summary>
        private bool IsRecalled(Push push, long seq) =>
            !_recalled.IsEmpty && _recalled.TryGetValue(ConnectionOf(push), out var upTo) && seq <= upTo;

        /// <summary>A batch as each attempt sends it: a retry leaves out what was recalled meanwhile (a socket taken for gone while the broker did not answer).</summary>
        private Task SendBatchAsync(Batch batch) => WithRetriesAsync(
            static async (link, batch, token) =>
            {
                batch.LeaveOut(link.IsRecalled);
                if (batch.Request.Pushes.Count == 0)
                {
                    return new PushBatchResult();
                }

                Volatile.Write(ref link._attemptStartedAt, link._owner._time.GetTimestamp());
                try
                {
                    var delivered = await link.Client.DeliverAsync(batch.Request, link._headers, cancellationToken: token).ResponseAsync;
                    Volatile.Write(ref link._attemptStartedAt, 0);
                    return delivered;
                }
                catch (ObjectDisposedException ex)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "the connection was reset"), ex.Message); // tried again
                }
            },
            batch,
            batch.Count);

        private Task SendOneAsync(Push push) => WithRetriesAsync(
            static (link, push, token) => push.KindCase == Push.KindOneofCase.Dialogue
                ? link.Client.ReceiveMsgDialogueAsync(push.Dialogue, link._headers, cancellationToken: token).ResponseAsync
                : link.Client.ReceiveMsgSignalAsync(push.Signal, link._headers, cancellationToken: token).ResponseAsync,
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

    /// <summary>The pushes of one <c>Deliver</c> call, each with its number in the link's queue.</summary>
    private sealed class Batch
    {
        private readonly List<long> _seqs = [];

        public PushBatch Request { get; } = new();

        public int Count => _seqs.Count;

        public void Add(Push push, long seq)
        {
            Request.Pushes.Add(push);
            _seqs.Add(seq);
        }

        public void Clear()
        {
            Request.Pushes.Clear();
            _seqs.Clear();
        }

        public void LeaveOut(Func<Push, long, bool> recalled)
        {
            for (var i = _seqs.Count - 1; i >= 0; i--)
            {
                if (recalled(Request.Pushes[i], _seqs[i]))
                {
                    Request.Pushes.RemoveAt(i);
                    _seqs.RemoveAt(i);
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A push to broker {Broker} failed.")]
        public static partial void PushFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Gave up {Count} pushes to broker {Broker}: it did not take them in time; they wait in the store for the clients' reconnects.")]
        public static partial void GaveUp(ILogger logger, int count, string broker, Exception exception);

        [LoggerMessage(3, LogLevel.Warning, "The health check of broker {Broker} failed; it counts as silent.")]
        public static partial void CheckFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(4, LogLevel.Debug, "Closed the link to broker {Broker}: nothing for {Idle}.")]
        public static partial void LinkClosed(ILogger logger, string broker, TimeSpan idle);

        [LoggerMessage(5, LogLevel.Warning, "No link could be made to broker {Broker}.")]
        public static partial void LinkFailed(ILogger logger, string broker, Exception exception);
    }
}
