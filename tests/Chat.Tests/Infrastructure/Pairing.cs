namespace Chat.Tests.Infrastructure;

public static class Pairing
{
    /// <summary>Matches two fresh visitors: the first waits, the second is paired with it.</summary>
    public static async Task<(TestClient A, TestClient B, ulong SessionId)> PairAsync(Task<TestClient> firstVisitor, Task<TestClient> secondVisitor)
    {
        var first = await firstVisitor;
        var second = await secondVisitor;
        var waiting = await first.RequestAsync(new { cmd = "MATCH_REQ", accountId = first.AccountId }, "MATCH_RESP");
        Assert.Equal(4, waiting.Code());
        var matched = await second.RequestAsync(new { cmd = "MATCH_REQ", accountId = second.AccountId }, "MATCH_RESP");
        Assert.Equal(0, matched.Code());
        var sessionId = matched.ULong("sessionId");
        var signal = await first.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "NewSession");
        Assert.Equal(sessionId, signal.ULong("sessionId"));
        return (first, second, sessionId);
    }
}
