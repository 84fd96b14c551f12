namespace Chat.BrowserTests;

/// <summary>The chat server as the browser tests run it.</summary>
internal static class BrowserServer
{
    /// <summary>A fresh server that serves the web client straight from the source tree: what the pages load is what is committed.</summary>
    public static Task<ChatServer> StartAsync(params string[] settings) => ChatServer.StartAsync([$"webroot={RepoPaths.WebRoot}", .. settings]);

    /// <summary>A fresh server whose operator listener is on: an operator <c>ops</c>, their token, and the operator page's address.</summary>
    public static async Task<(ChatServer Server, string Token, Uri OperatorPage)> StartWithOperatorAsync(params string[] settings)
    {
        var (token, line) = Chat.Logic.Moderation.OperatorOptions.NewToken("ops");
        var port = Chat.Testing.Network.LoopbackPort.ForListening();
        var server = await StartAsync([$"Chat:Operator:Url=http://127.0.0.1:{port}", $"Chat:Operator:Tokens:ops={line[(line.IndexOf('=') + 1)..]}", .. settings]);
        return (server, token, new Uri($"http://127.0.0.1:{port}/admin/"));
    }
}
