using System.Collections.Concurrent;
using Chat.Broker.Connections;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Delivery;

/// <summary>
/// Tells logic how far each client has received its messages (the delivery marks replays start
/// from), per socket and session, once every <see cref="BrokerOptions.DeliveryReportInterval"/>
/// rather than once per message: under load a mark moves many times between two reports, and
/// each report is a call into logic. A socket that ends reports first (<see cref="FlushAsync"/>),
/// so a replay after a reconnect starts where the old socket stopped.
/// </summary>
internal sealed partial class DeliveryReports(ILogic logic, IOptions<BrokerOptions> options, TimeProvider time, ILogger<DeliveryReports> logger) : BackgroundService
{
    private readonly ConcurrentQueue<ClientConnection> _due = new();

    /// <summary>The client of <paramref name="connection"/> received messages up to <paramref name="msgId"/> in the session.</summary>
    public void Delivered(ClientConnection connection, ulong sessionId, ulong msgId)
    {
        if (connection.Delivery.NoteReceived(sessionId, msgId))
        {
            _due.Enqueue(connection);
        }
    }

    /// <summary>Reports the connection's marks now (before its account leaves).</summary>
    public async Task FlushAsync(ClientConnection connection)
    {
        foreach (var (sessionId, msgId) in connection.Delivery.TakeReceived())
        {
            try
            {
                await logic.ConfirmDeliveredAsync(connection.AccountId, sessionId, msgId, CancellationToken.None);
            }
            catch (Exception ex)
            {
                Log.ReportFailed(logger, connection.AccountId, ex); // a lagging mark costs duplicate replays, never loss
            }
        }
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
        var reports = new List<Task>();
        var count = _due.Count;
        while (count-- > 0 && _due.TryDequeue(out var connection))
        {
            reports.Add(FlushAsync(connection));
        }

        await Task.WhenAll(reports);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Reporting what account {AccountId} received failed.")]
        public static partial void ReportFailed(ILogger logger, ulong accountId, Exception exception);
    }
}
