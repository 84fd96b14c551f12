using System.Text.Json;
using Chat.Broker.Upstream;
using Chat.Host.Cluster;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace Chat.Host.Discovery;

/// <summary>
/// The logic nodes etcd knows, for a broker: every entry under the prefix (the seed's
/// <c>{"Addr":"host:port"}</c>), watched for changes and read again every <c>Chat:Cluster:EtcdReadInterval</c>
/// (a watch that died with etcd says nothing). While etcd is away the broker keeps the addresses it saw
/// last. Not a Polly retry: the reading goes on for as long as the broker runs.
/// </summary>
internal sealed partial class EtcdLogicAddresses(EtcdConnection connection, IOptions<ClusterOptions> options, TimeProvider time, ILogger<EtcdLogicAddresses> logger) : BackgroundService, ILogicAddresses
{
    private readonly EtcdClient _etcd = connection.Client;
    private readonly string _prefix = options.Value.EtcdPrefix;
    private readonly TimeSpan _readEvery = options.Value.EtcdReadInterval;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _byKey = [];
    private IReadOnlyList<string> _current = [];

    public IReadOnlyList<string> Current => Volatile.Read(ref _current);

    /// <summary>Reads the list once before the broker takes its first socket (if etcd answers).</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReadAllAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            connection.Failed(ex);
            Log.Unreachable(logger, ex);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        CancellationTokenSource? watching = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var revision = await ReadAllAsync(stoppingToken);
                    if (watching is null)
                    {
                        watching = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                        await WatchAsync(revision + 1, watching.Token);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    connection.Failed(ex);
                    Log.Unreachable(logger, ex);
                    watching?.Cancel(); // set up again once etcd answers
                    watching?.Dispose();
                    watching = null;
                }

                await Task.Delay(_readEvery, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            watching?.Cancel();
            watching?.Dispose();
        }
    }

    private async Task<long> ReadAllAsync(CancellationToken cancellationToken)
    {
        var range = await _etcd.GetRangeAsync(_prefix, cancellationToken: cancellationToken);
        lock (_lock)
        {
            _byKey.Clear();
            foreach (var entry in range.Kvs)
            {
                if (AddressIn(entry.Value) is { } address)
                {
                    _byKey[entry.Key.ToStringUtf8()] = address;
                }
            }

            Publish();
        }

        return range.Header.Revision;
    }

    private Task WatchAsync(long fromRevision, CancellationToken cancellationToken) => _etcd.WatchAsync(
        new WatchRequest
        {
            CreateRequest = new WatchCreateRequest
            {
                Key = ByteString.CopyFromUtf8(_prefix),
                RangeEnd = ByteString.CopyFromUtf8(EtcdClient.GetRangeEnd(_prefix)),
                StartRevision = fromRevision,
            },
        },
        (WatchResponse response) =>
        {
            lock (_lock)
            {
                foreach (var change in response.Events)
                {
                    var key = change.Kv.Key.ToStringUtf8();
                    if (change.Type == Mvccpb.Event.Types.EventType.Put && AddressIn(change.Kv.Value) is { } address)
                    {
                        _byKey[key] = address;
                    }
                    else
                    {
                        _byKey.Remove(key);
                    }
                }

                Publish();
            }
        },
        cancellationToken: cancellationToken);

    private void Publish()
    {
        IReadOnlyList<string> now = [.. _byKey.Values.Distinct().Order(StringComparer.Ordinal)];
        if (!now.SequenceEqual(_current))
        {
            Log.Changed(logger, string.Join(", ", now));
        }

        Volatile.Write(ref _current, now);
    }

    private static string? AddressIn(ByteString value)
    {
        try
        {
            using var json = JsonDocument.Parse(value.Memory);
            return json.RootElement.TryGetProperty("Addr", out var addr) && addr.GetString() is { Length: > 0 } text ? text : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Logic nodes now: {Addresses}.")]
        public static partial void Changed(ILogger logger, string addresses);

        [LoggerMessage(2, LogLevel.Warning, "etcd did not answer; keeping the logic nodes seen last.")]
        public static partial void Unreachable(ILogger logger, Exception exception);
    }
}
