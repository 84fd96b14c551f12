namespace Chat.Tests.Infrastructure;

/// <summary>Protocol clients on any running server, in-process or a child process.</summary>
public static class ServerVisitors
{
    public static async Task<TestClient> ConnectAsync(this IChatServer server, string? origin = null, params (string Name, string Value)[] headers) =>
        await TestClient.ConnectAsync(server.WebSocketUri, origin, headers);

    /// <summary>A connected client with a new account.</summary>
    public static async Task<TestClient> NewVisitorAsync(this IChatServer server, string nickName, bool confirmReceipt = false)
    {
        var client = await server.ConnectAsync();
        await client.CreateAccountAsync(nickName, confirmReceipt);
        return client;
    }

    /// <summary>Two visitors matched with each other.</summary>
    public static Task<(TestClient A, TestClient B, ulong SessionId)> NewPairAsync(
        this IChatServer server, string a = "alice", string b = "bob", bool confirmReceipt = false) =>
        Pairing.PairAsync(server.NewVisitorAsync(a, confirmReceipt), server.NewVisitorAsync(b, confirmReceipt));
}
