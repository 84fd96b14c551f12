namespace Chat.Testing.Servers;

/// <summary>A running `chat` as a client sees it: where to load pages and where to open sockets.</summary>
public interface IChatServer
{
    /// <summary>The web client and HTTP endpoints, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    Uri HttpUri { get; }

    /// <summary>The client WebSocket, e.g. <c>ws://127.0.0.1:40123/ws</c>.</summary>
    Uri WebSocketUri { get; }
}
