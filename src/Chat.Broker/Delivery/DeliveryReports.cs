using System.Collections.Concurrent;
using Chat.Broker.Connections;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Delivery;

/// <summary>
/// Tells logic how far each client has received its messages (the delivery marks replays start
/// from), once every <see cref="BrokerOptions.DeliveryReportInterval"/> rather than once per
/// message: under load a mark moves many times between two reports. Each report is one call into
/// logic for every socket that received something since the last (<see cref="MarksPerCall"/> marks
/// a call at most), not a call per socket: in a cluster, one gRPC call a second instead of one per
/// chatting visitor. A socket that ends reports first (<see cref="FlushAsync"/>), and waits for a
/// report that took its earlier marks, so a replay after a reconnect starts where the old socket stopped.
/// </summary>
internal sealed partial class DeliveryReports(ILogic logic, IOptions<BrokerOptions> options, TimeProvider time, ILogger<DeliveryReports> logger) : BackgroundService
{
    /// <summary>The most marks one call carries; a larger report is several calls at once (a gRPC message stays small).</summary>
    public const int MarksPerCall = 1024;

    private readonly ConcurrentQueue<ClientConnection> _due = new();

    // The regular report in flight (completed when none is): set before it takes any socket's marks, never faults.
    private Task _reporting = Task.CompletedTask;

    /// <summary>The client of <paramref name="connection"/> received messages up to <paramref name="msgId"/> in the session.</summary>
    public void Delivered(ClientConnection connection, ulong sessionId, ulong msgId)
    {
        if (connection.Delivery.NoteReceived(sessionId, msgId))
        {
            _due.Enqueue(connection);
        }
    }

    /// <summary>Reports the connection's marks now (before its account leaves), and waits for a regular report that took some of them.</summary>
    public async Task FlushAsync(ClientConnection connection)
    {
        var reports = new List<DeliveryReport>();
        AddMarks(connection, reports);
        await SendAsync(reports);

        // Read after the marks were taken: a report that took this socket's earlier marks had been set
        // before it took them (under the socket's lock, as this take), so it is this one or an earlier.
        await Volatile.Read(ref _reporting);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.DeliveryReportInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await ReportDueAsync();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await ReportDueAsync();
    }

    private async Task ReportDueAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _reporting, done.Task);
        try
        {
            var reports = new List<DeliveryReport>();
            var count = _due.Count;
            while (count-- > 0 && _due.TryDequeue(out var connection))
            {
                AddMarks(connection, reports);
            }

            await SendAsync(reports);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private static void AddMarks(ClientConnection connection, List<DeliveryReport> reports)
    {
        foreach (var (sessionId, msgId) in connection.Delivery.TakeReceived())
        {
            reports.Add(new DeliveryReport(connection.AccountId, sessionId, msgId));
        }
    }

    /// <summary>Sends the marks, <see cref="MarksPerCall"/> a call, all calls at once; never fails (a lagging mark costs duplicate replays, never loss).</summary>
    private async Task SendAsync(List<DeliveryReport> reports)
    {
        if (reports.Count <= MarksPerCall)
        {
            await SendCallAsync(reports);
            return;
        }

        var calls = new List<Task>();
        for (var start = 0; start < reports.Count; start += MarksPerCall)
        {
            calls.Add(SendCallAsync(reports.GetRange(start, Math.Min(MarksPerCall, reports.Count - start))));
        }

        await Task.WhenAll(calls);
    }

    private async Task SendCallAsync(List<DeliveryReport> reports)
    {
        if (reports.Count == 0)
        {
            return;
        }

        try
        {
            await logic.ConfirmDeliveredAsync(reports, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.ReportFailed(logger, reports.Count, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Reporting {Count} delivery marks failed; replays may repeat what those clients had.")]
        public static partial void ReportFailed(ILogger logger, int count, Exception exception);
    }
}
