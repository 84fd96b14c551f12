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
    private long _revision; // of the newest read or event applied to _byKey, under _lock
    private Task? _watch;

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
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var revision = await ReadAllAsync(stoppingToken);
                    _watch ??= WatchAsync(revision + 1, stoppingToken);
                    if (_watch is { IsFaulted: true, Exception: { } failed })
                    {
                        Log.Unreachable(logger, failed);
                        _watch = null; // set up again after the next read
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    connection.Failed(ex);
                    Log.Unreachable(logger, ex);
                }

                await Task.Delay(_readEvery, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<long> ReadAllAsync(CancellationToken cancellationToken)
    {
        var range = await _etcd.GetRangeAsync(_prefix, cancellationToken: cancellationToken);
        var revision = range.Header.Revision;
        lock (_lock)
        {
            if (revision < _revision)
            {
                return revision; // a watch event newer than this read is in already; the next read catches up
            }

            _revision = revision;
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

        return revision;
    }

    /// <summary>
    /// Set up once and never awaited by the reading loop: etcd's client resumes a watch itself after etcd comes
    /// back, and a watch that is slow to be set up again must not stop the reading (the list would stay as
    /// the last read left it: an empty one if that read fell while no node had its lease renewed yet).
    /// </summary>
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
                    if (change.Kv.ModRevision <= _revision)
                    {
                        continue; // a read already saw it (a resumed watch replays)
                    }

                    _revision = change.Kv.ModRevision;
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
