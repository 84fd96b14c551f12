using Chat.Broker.Connections;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Chat.Broker.Diagnostics;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Limits;

/// <summary>
/// The broker's side of the per-address limits, which logic counts (in one place for the cluster):
/// it asks before a socket may stay open and before an account is created, closes a refused socket
/// with 1008 and the reason, tells logic when a counted socket closes, and every
/// <see cref="AddressGateOptions.SocketReportInterval"/> reports what it holds per address, which
/// mends a close logic never heard of and lets the counts of a broker that died run out. A limit
/// that cannot be checked (no logic node answers) lets the request through, with a log line and
/// <c>chat_broker_limits_unchecked_total</c>. Nothing here is on a chat message's path.
/// </summary>
internal sealed partial class AddressGate(
    ILogic logic,
    IOptions<BrokerOptions> broker,
    IOptions<AddressGateOptions> options,
    BrokerMetrics metrics,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<AddressGate> logger) : BackgroundService
{
    /// <summary>Addresses per report call, so that one report of a broker holding very many stays a modest message.</summary>
    private const int ReportChunk = 5000;

    /// <summary>The longest close reason a WebSocket close frame carries, in UTF-8 bytes.</summary>
    private const int MaxCloseReasonBytes = 123;

    private readonly ConcurrentDictionary<string, int> _held = new(StringComparer.Ordinal);
    private readonly string _broker = broker.Value.Address;
    private int _proxyNotBelieved;

    /// <summary>Addresses with sockets open on this broker now.</summary>
    public int Addresses => _held.Count;

    /// <summary>
    /// The client's address as the limits count it: the peer's, or the one a trusted proxy named.
    /// A request that names one nobody believed (X-Forwarded-For, and none of it taken) comes from a
    /// proxy that is not in <c>Chat:Cluster:TrustedProxies</c>: every visitor behind it would be one
    /// address to the limits, so the log says so, once.
    /// </summary>
    public string AddressOf(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (headers.ContainsKey("X-Forwarded-For") && !headers.ContainsKey("X-Original-For") && Interlocked.Exchange(ref _proxyNotBelieved, 1) == 0)
        {
            Log.ProxyNotBelieved(logger, context.Connection.RemoteIpAddress?.ToString() ?? ClientAddresses.Unknown);
        }

        return ClientAddresses.KeyOf(context.Connection.RemoteIpAddress);
    }

    /// <summary>Whether a socket from <paramref name="address"/> may stay; admitted, it is counted until <see cref="ReleaseSocketAsync"/>.</summary>
    public async ValueTask<Admission> AdmitSocketAsync(string address)
    {
        if (options.Value.SocketsPerAddress <= 0)
        {
            return Admission.Admitted;
        }

        var admission = await AskAsync(() => logic.AdmitSocketAsync(address, _broker, CancellationToken.None), "sockets");
        if (admission.IsRefused)
        {
            return admission;
        }

        _held.AddOrUpdate(address, 1, static (_, held) => held + 1);
        return Admission.Admitted;
    }

    /// <summary>
    /// A socket <see cref="AdmitSocketAsync"/> counted has closed. Not told while the broker stops
    /// (every socket closes at once): logic forgets this broker's counts when it starts again, and they
    /// run out by themselves if it does not.
    /// </summary>
    public async ValueTask ReleaseSocketAsync(string address)
    {
        if (!Uncount(address) || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return;
        }

        try
        {
            await logic.SocketClosedAsync(address, _broker, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.CloseNotTold(logger, ex); // the next report sets the count right
        }
    }

    /// <summary>Accepts the WebSocket only to close it at once with 1008 and why, so the client can say it.</summary>
    public async Task RefuseSocketAsync(HttpContext context, Admission refusal)
    {
        metrics.ClosedByServer((int)WebSocketCloseStatus.PolicyViolation);
        await RefusedSocket.CloseAsync(context, WebSocketCloseStatus.PolicyViolation, CloseReason(refusal.Message ?? "refused"), notice: null, broker.Value.CloseTimeout, time);
    }

    /// <summary>Whether this socket may create an account now (CRT_ACCOUNT_REQ), with the client's solved challenge if it sent one.</summary>
    public ValueTask<Admission> AdmitAccountAsync(string address, string? altcha) =>
        AskAsync(() => logic.AdmitAccountAsync(address, altcha, CancellationToken.None), "accounts");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.SocketsPerAddress <= 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.SocketReportInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await ReportAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Tells logic at once what this broker holds (it does so every report interval anyway): after a
    /// start that logic heard of late, which made it forget every count of this broker, sockets opened
    /// since then included.
    /// </summary>
    public Task ReportHeldAsync(CancellationToken cancellationToken) =>
        options.Value.SocketsPerAddress <= 0 || _held.IsEmpty ? Task.CompletedTask : ReportAsync(cancellationToken);

    private async Task ReportAsync(CancellationToken stoppingToken)
    {
        var held = _held.Select(pair => new HeldSockets(pair.Key, pair.Value)).ToList();
        foreach (var chunk in held.Chunk(ReportChunk))
        {
            try
            {
                await logic.ReportSocketsAsync(_broker, chunk, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                Log.ReportFailed(logger, ex);
                return; // the next report tries again
            }
        }
    }

    /// <summary>Logic's answer; if no logic node could check it, an admission (fail open) that says so in the log and the metrics.</summary>
    private async ValueTask<Admission> AskAsync(Func<ValueTask<Admission>> ask, string kind)
    {
        Admission admission;
        try
        {
            admission = await ask();
        }
        catch (Exception ex)
        {
            metrics.LimitUnchecked(kind);
            Log.Unchecked(logger, kind, ex);
            return Admission.Unchecked;
        }

        if (admission.Code == ResultCode.InternalErr)
        {
            metrics.LimitUnchecked(kind);
            Log.UncheckedNoAnswer(logger, kind);
        }

        return admission;
    }

    private bool Uncount(string address)
    {
        while (_held.TryGetValue(address, out var held))
        {
            if (held <= 1 ? _held.TryRemove(KeyValuePair.Create(address, held)) : _held.TryUpdate(address, held - 1, held))
            {
                return true;
            }
        }

        return false;
    }

    private static string CloseReason(string message)
    {
        if (Encoding.UTF8.GetByteCount(message) <= MaxCloseReasonBytes)
        {
            return message;
        }

        var cut = message.Length;
        while (Encoding.UTF8.GetByteCount(message.AsSpan(0, cut)) > MaxCloseReasonBytes)
        {
            cut--;
        }

        return message[..cut];
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The {Kind} limit could not be checked: the request goes ahead unchecked.")]
        public static partial void Unchecked(ILogger logger, string kind, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "The {Kind} limit could not be checked (no logic node answered): the request goes ahead unchecked.")]
        public static partial void UncheckedNoAnswer(ILogger logger, string kind);

        [LoggerMessage(3, LogLevel.Debug, "Logic was not told of a closed socket; the next report sets the count right.")]
        public static partial void CloseNotTold(ILogger logger, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "The report of this broker's sockets per address failed; the next one tries again.")]
        public static partial void ReportFailed(ILogger logger, Exception exception);

        [LoggerMessage(5, LogLevel.Warning, "A WebSocket request from {Peer} carries X-Forwarded-For, but {Peer} is not in Chat:Cluster:TrustedProxies: every visitor behind that proxy counts as one address to the per-address limits. Add the proxy's address there (said once).")]
        public static partial void ProxyNotBelieved(ILogger logger, string peer);
    }
}
