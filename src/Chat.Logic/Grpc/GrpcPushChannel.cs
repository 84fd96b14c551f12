using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Logic.Housekeeping;
using Chat.Protocol.Grpc;
using Chat.Protocol.Seams;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using BrokerClient = Chat.Protocol.Grpc.Broker.BrokerClient;

namespace Chat.Logic.Grpc;

/// <summary>
/// Logic's pushes to brokers over the seed's <c>Broker</c> service, one link per broker address.
/// Live pushes to one broker leave in the order they were handed over, many per call
/// (<c>Deliver</c>), one call in flight at a time: the order a session grain pushes in is the
/// order the broker queues them. A replay waits for its answer (it stops when the socket is
/// gone). A broker that sent no connection id is the seed's: it gets the seed's calls, one push
/// each, and only the signals it knows.
/// </summary>
internal sealed partial class GrpcPushChannel(ClusterSecret secret, ILogger<GrpcPushChannel> logger) : IPushChannel, IBrokerProbe, IAsyncDisposable
{
    // Lazy: a link starts a loop, so two racing callers must not both make one.
    private readonly ConcurrentDictionary<string, Lazy<BrokerLink>> _links = new();

    public ValueTask<bool> PushDialogueAsync(ClientEndpoint to, DialoguePush push, CancellationToken cancellationToken)
    {
        var link = LinkTo(to.Broker);
        if (push.Replay)
        {
            return link.ReplayAsync(push.ToProto(to.ConnectionId), cancellationToken);
        }

        return ValueTask.FromResult(link.Enqueue(new Push { Dialogue = push.ToProto(to.ConnectionId) }));
    }

    public ValueTask<bool> PushSignalAsync(ClientEndpoint to, SignalPush push, CancellationToken cancellationToken)
    {
        if (to.ConnectionId == 0 && !push.Kind.IsSeeds())
        {
            return ValueTask.FromResult(false);
        }

        return ValueTask.FromResult(LinkTo(to.Broker).Enqueue(new Push { Signal = push.ToProto(to.ConnectionId) }));
    }

    public async ValueTask DisconnectAsync(ClientEndpoint to, CancellationToken cancellationToken)
    {
        if (to.ConnectionId != 0)
        {
            await LinkTo(to.Broker).DisconnectAsync(to.ConnectionId, cancellationToken);
        }
    }

    /// <summary>Whether the broker answers its health check within two seconds.</summary>
    public async Task<bool> IsReachableAsync(string broker, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await LinkTo(broker).Client.HealthCheckAsync(new HealthCheckReq { Asker = "logic" }, secret.Headers, DateTime.UtcNow + TimeSpan.FromSeconds(2), cancellationToken);
            return answer.Code == CodeEnum.Success;
        }
        catch (RpcException)
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
        : _links.GetOrAdd(broker, address => new Lazy<BrokerLink>(() => new BrokerLink(address, secret, logger))).Value;

    /// <summary>One broker: its channel, and the ordered queue of live pushes with the one loop that sends them.</summary>
    private sealed class BrokerLink : IAsyncDisposable
    {
        /// <summary>Pushes sent in one call at the most.</summary>
        private const int MaxBatch = 512;

        /// <summary>Pushes waiting for a broker that does not answer, at the most; beyond, new ones are dropped (they wait in the store).</summary>
        private const int MaxWaiting = 100_000;

        /// <summary>How long a batch is tried again before it is given up (a broker gone this long is declared dead anyway).</summary>
        private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(10);

        private readonly string _broker;
        private readonly ClusterSecret _secret;
        private readonly ILogger _logger;
        private readonly GrpcChannel _channel;
        private readonly Channel<Push> _queue = Channel.CreateBounded<Push>(new BoundedChannelOptions(MaxWaiting)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
        private readonly CancellationTokenSource _stopping = new();
        private readonly Task _sending;

        public BrokerLink(string broker, ClusterSecret secret, ILogger logger)
        {
            _broker = broker;
            _secret = secret;
            _logger = logger;
            _channel = GrpcChannel.ForAddress($"http://{broker}");
            Client = new BrokerClient(_channel);
            _sending = SendAsync();
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
            try
            {
                await _sending;
            }
            catch (OperationCanceledException)
            {
            }

            _stopping.Dispose();
            _channel.Dispose();
        }

        private async Task SendAsync()
        {
            var reader = _queue.Reader;
            var batch = new PushBatch();
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                batch.Pushes.Clear();
                while (batch.Pushes.Count < MaxBatch && reader.TryPeek(out var next))
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

        private Task SendBatchAsync(PushBatch batch) => WithRetriesAsync(() => Client.DeliverAsync(batch, _secret.Headers, cancellationToken: _stopping.Token).ResponseAsync, batch.Pushes.Count);

        private Task SendOneAsync(Push push) => WithRetriesAsync(
            () => push.KindCase == Push.KindOneofCase.Dialogue
                ? Client.ReceiveMsgDialogueAsync(push.Dialogue, _secret.Headers, cancellationToken: _stopping.Token).ResponseAsync
                : Client.ReceiveMsgSignalAsync(push.Signal, _secret.Headers, cancellationToken: _stopping.Token).ResponseAsync,
            1);

        /// <summary>
        /// Sends until it goes through or <see cref="GiveUpAfter"/> has passed: a push that went
        /// through twice is dropped by the broker (it knows the msgIds each socket got).
        /// </summary>
        private async Task WithRetriesAsync<T>(Func<Task<T>> send, int pushes)
        {
            var started = DateTime.UtcNow;
            var pause = TimeSpan.FromMilliseconds(50);
            while (true)
            {
                try
                {
                    await send();
                    return;
                }
                catch (RpcException ex) when (!_stopping.IsCancellationRequested)
                {
                    if (DateTime.UtcNow - started > GiveUpAfter)
                    {
                        Log.GaveUp(_logger, pushes, _broker, ex);
                        return;
                    }

                    await Task.Delay(pause, _stopping.Token);
                    pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A push to broker {Broker} failed.")]
        public static partial void PushFailed(ILogger logger, string broker, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Gave up {Count} pushes to broker {Broker}: it did not answer for 10 s; they wait in the store for the clients' reconnects.")]
        public static partial void GaveUp(ILogger logger, int count, string broker, Exception exception);
    }
}
