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
