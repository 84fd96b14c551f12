namespace Chat.Protocol.Seams;

/// <summary>
/// Where an account's socket lives: the broker's address and the connection's id on that broker.
/// Logic records it when an account binds, and ignores requests from an endpoint that is no longer
/// the account's (a socket replaced by RECONNECT).
/// </summary>
public readonly record struct ClientEndpoint(string Broker, ulong ConnectionId)
{
    public override string ToString() => $"{Broker}#{ConnectionId}";
}
