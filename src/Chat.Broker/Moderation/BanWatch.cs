using System.Globalization;
using System.Net.WebSockets;
using Chat.Broker.Connections;
using Chat.Broker.Diagnostics;
using Chat.Broker.Frames;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Moderation;

/// <summary>
/// The cluster's bans as this broker applies them. Every <see cref="BrokerOptions.BanRefresh"/> it
/// reads the book of bans from logic (which answers "unchanged" most of the time); when it changed,
/// every open socket a ban covers gets <c>ERROR_RESP</c> code 7 (why, until when, the ban's
/// reference) and is closed with 4003, its account leaving as if it had closed the socket. A new
/// socket, a new account and a reconnect are checked against the last book read. Logic that cannot
/// be reached leaves the last book in force.
/// </summary>
internal sealed partial class BanWatch(
    ILogic logic,
    ConnectionRegistry registry,
    BrokerMetrics metrics,
    IOptions<BrokerOptions> options,
    TimeProvider time,
    ILogger<BanWatch> logger) : BackgroundService
{
    /// <summary>The close status of a banned visitor's socket (ours, in the range for applications).</summary>
    public const WebSocketCloseStatus Banned = (WebSocketCloseStatus)4003;

    private const string CloseReason = "banned";

    private volatile BanBook _book = BanBook.Empty;

    /// <summary>The ban that covers a socket from <paramref name="address"/> with <paramref name="accountId"/> (0: none yet), if any.</summary>
    public Ban? Find(string address, ulong accountId) => _book.Find(address, accountId, time.GetUtcNow().ToUnixTimeMilliseconds());

    /// <summary>The <c>msg</c> a banned visitor is shown.</summary>
    public static string Message(Ban ban) =>
        $"you are banned until {DateTimeOffset.FromUnixTimeMilliseconds(ban.UntilUnixMs).ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}: {ban.Reason} (reference {ban.Ref})";

    /// <summary>Accepts a socket from a banned address only to say why (ERROR_RESP code 7) and close it with 4003.</summary>
    public async Task RefuseSocketAsync(HttpContext context, Ban ban)
    {
        metrics.ClosedByServer((int)Banned);
        await RefusedSocket.CloseAsync(context, Banned, CloseReason, Notice(ban), options.Value.CloseTimeout, time);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.BanRefresh, time);
        try
        {
            do
            {
                try
                {
                    if (await logic.ReadBansAsync(_book.Version, stoppingToken) is { } book)
                    {
                        _book = book;
                        CloseBanned(book);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    Log.ReadFailed(logger, ex); // the last book read stands
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void CloseBanned(BanBook book)
    {
        if (book.Bans.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var connection in registry.All)
        {
            if (!connection.IsClosing && book.Find(connection.Address, connection.AccountId, now) is { } ban)
            {
                Log.Closed(logger, connection.Id, ban.Ref);
                metrics.ClosedByServer((int)Banned);
                connection.TrySend(Notice(ban));
                connection.Close(Banned, CloseReason, LeaveKind.Closed);
            }
        }
    }

    private static byte[] Notice(Ban ban) => FrameSerializer.Serialize(new BannedResponse(Commands.ErrorResp, Message(ban), ban.UntilUnixMs, ban.Ref));

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The bans could not be read from logic; the last ones read stand.")]
        public static partial void ReadFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Information, "Connection {ConnectionId} closed: ban {Ref}.")]
        public static partial void Closed(ILogger logger, ulong connectionId, string @ref);
    }
}
