namespace Chat.Protocol.Seams;

/// <summary>
/// Where an account's socket lives: the broker's address and the connection's id on that broker.
/// Logic records it when an account binds, and ignores requests from an endpoint that is no longer
/// the account's (a socket replaced by RECONNECT).
/// </summary>
/// <param name="Incarnation">
/// The start of the broker the socket belongs to (a broker of a cluster names it with every binding;
/// 0: not named, as in one process or from the seed's broker): a restarted broker releases the
/// accounts of its earlier starts by it. Connection ids are random and say nothing of it.
/// </param>
public readonly record struct ClientEndpoint(string Broker, ulong ConnectionId, long Incarnation = 0)
{
    public override string ToString() => $"{Broker}#{ConnectionId}";
}
