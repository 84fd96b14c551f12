using System.Text.Json;
using Chat.Host.Cluster;
using Chat.Logic;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace Chat.Host.Discovery;

/// <summary>
/// A logic node's entry in etcd, as the seed's brokers expect it: key <c>services/logic/&lt;id&gt;</c>,
/// value <c>{"Addr":"host:port"}</c>, on a lease kept alive (<c>Chat:Cluster:EtcdLease</c>). Checked
/// every <c>Chat:Cluster:EtcdCheckInterval</c> and written again (on a new lease) when etcd lost it
/// (etcd restarted, or was away longer than the lease). Removed first thing when the node stops,
/// before it stops taking calls. Not a Polly retry: the check runs for as long as the node does.
/// </summary>
internal sealed partial class EtcdRegistration(
    EtcdConnection connection,
    LogicNodeAddress node,
    IOptions<ClusterOptions> options,
    TimeProvider time,
    ILogger<EtcdRegistration> logger) : BackgroundService, IHostedLifecycleService
{
    private readonly EtcdClient _etcd = connection.Client;
    private readonly string _key = options.Value.EtcdPrefix + Guid.NewGuid().ToString("N");
    private readonly string _address = node.GrpcAddress!;
    private readonly long _leaseSeconds = (long)Math.Ceiling(options.Value.EtcdLease.TotalSeconds);
    private readonly TimeSpan _checkEvery = options.Value.EtcdCheckInterval;
    private long _lease;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        CancellationTokenSource? keepAlive = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var entry = await _etcd.GetAsync(_key, cancellationToken: stoppingToken);
                    if (entry.Count == 0 || entry.Kvs[0].Lease != Volatile.Read(ref _lease))
                    {
                        keepAlive?.Cancel();
                        keepAlive?.Dispose();
                        keepAlive = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                        await RegisterAsync(stoppingToken);
                        _ = KeepAliveAsync(Volatile.Read(ref _lease), keepAlive.Token);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    connection.Failed(ex);
                    Log.Unreachable(logger, ex); // brokers keep the addresses they saw
                }

                await Task.Delay(_checkEvery, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            keepAlive?.Cancel();
            keepAlive?.Dispose();
        }
    }

    /// <summary>Deregisters before the node stops taking calls (hosted services stop after the web server drains).</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var lease = Interlocked.Exchange(ref _lease, 0);
        try
        {
            await _etcd.DeleteAsync(_key, cancellationToken: cancellationToken);
            if (lease != 0)
            {
                await _etcd.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, cancellationToken: cancellationToken);
            }

            Log.Deregistered(logger, _key);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            connection.Failed(ex);
            Log.Unreachable(logger, ex); // the lease runs out by itself
        }
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var lease = await _etcd.LeaseGrantAsync(new LeaseGrantRequest { TTL = _leaseSeconds }, cancellationToken: cancellationToken);
        var value = JsonSerializer.Serialize(new Dictionary<string, string> { ["Addr"] = _address });
        await _etcd.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(_key), Value = ByteString.CopyFromUtf8(value), Lease = lease.ID }, cancellationToken: cancellationToken);
        Volatile.Write(ref _lease, lease.ID);
        Log.Registered(logger, _key, _address);
    }

    private async Task KeepAliveAsync(long lease, CancellationToken cancellationToken)
    {
        try
        {
            await _etcd.LeaseKeepAlive(lease, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            connection.Failed(ex);
            Log.Unreachable(logger, ex); // the next check registers again
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Registered in etcd as {Key} = {Address}.")]
        public static partial void Registered(ILogger logger, string key, string address);

        [LoggerMessage(2, LogLevel.Information, "Removed {Key} from etcd.")]
        public static partial void Deregistered(ILogger logger, string key);

        [LoggerMessage(3, LogLevel.Warning, "etcd did not answer.")]
        public static partial void Unreachable(ILogger logger, Exception exception);
    }
}
