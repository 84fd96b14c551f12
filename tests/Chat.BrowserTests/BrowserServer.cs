namespace Chat.BrowserTests;

/// <summary>The chat server as the browser tests run it.</summary>
internal static class BrowserServer
{
    /// <summary>A fresh server that serves the web client straight from the source tree: what the pages load is what is committed.</summary>
    public static Task<ChatServer> StartAsync(params string[] settings) => ChatServer.StartAsync([$"webroot={RepoPaths.WebRoot}", .. settings]);
}
