using Chat.Bench.Scenarios;

namespace Chat.Bench.Tests;

/// <summary>The smoke run CI does against each server: 5 pairs × 50 messages, closed loop.</summary>
internal static class SmokeRun
{
    public static ChatOptions Options(Uri server) => new()
    {
        Server = server,
        Pairs = 5,
        Messages = 50,
        ReplyTimeout = TimeSpan.FromSeconds(30),
        Drain = TimeSpan.FromSeconds(20),
        MaxRun = TimeSpan.FromSeconds(90),
    };

    /// <summary>A crowd's smoke run: 10 visitors a message every 0.2 s each on average, 3 s measured.</summary>
    public static CrowdOptions Crowd(Uri server) => new()
    {
        Server = server,
        Visitors = 10,
        MeanInterval = TimeSpan.FromMilliseconds(200),
        TypingLead = TimeSpan.FromMilliseconds(50),
        Warmup = TimeSpan.FromMilliseconds(500),
        Duration = TimeSpan.FromSeconds(3),
        SourceAddresses = 4,
        ReplyTimeout = TimeSpan.FromSeconds(30),
        Drain = TimeSpan.FromSeconds(20),
    };

    /// <summary>Every message delivered once, each with its typing signal before, confirmed and read as a page does; the heartbeat answered.</summary>
    public static void AssertTheCrowdBehavedAsPages(CrowdResult result)
    {
        var chat = result.Chat;
        var frames = chat.Frames;
        Assert.True(result.Clean);
        Assert.True(chat.Settled);
        Assert.Equal(10, chat.Visitors);
        Assert.Equal(0, chat.Unexpected);
        Assert.Empty(chat.RejectedByCode);
        Assert.True(chat.Sent > 0);
        Assert.Equal(chat.Sent, chat.AckedOk);
        Assert.Equal(chat.Sent, chat.Delivered);
        Assert.True(frames.TypingSent >= chat.Sent, $"a typing signal before each message: {frames.TypingSent} for {chat.Sent}");
        Assert.True(frames.TypingSignals > 0);
        Assert.Equal(chat.Delivered, frames.PushesConfirmed);
        Assert.Equal(chat.Delivered, frames.ViewedAcksSent);
        Assert.Equal(0, frames.ViewedAcksRefused);
        Assert.True(frames.ViewedAcksOk > 0 && frames.ReadReceipts > 0);
        Assert.True(frames.PingsAnswered > 0);
    }

    public static Uri WebSocketUri(ICollection<string> urls)
    {
        var http = new Uri(urls.First());
        return new UriBuilder(http) { Scheme = "ws", Path = "/ws" }.Uri;
    }

    public static void AssertEveryMessageDelivered(ChatResult result, long messagesPerVisitor = 50)
    {
        var expected = 10 * messagesPerVisitor;
        Assert.Equal(10, result.Visitors);
        Assert.Equal(0, result.Unpaired);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.Duplicated);
        Assert.Equal(0, result.OutOfOrder);
        Assert.Equal(0, result.Misrouted);
        Assert.Equal(0, result.MsgIdRegressions);
        Assert.Equal(0, result.Unexpected);
        Assert.Empty(result.RejectedByCode);
        Assert.Equal(expected, result.Sent);
        Assert.Equal(result.Sent, result.AckedOk);
        Assert.Equal(result.Sent, result.Delivered);
    }
}
