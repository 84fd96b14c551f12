namespace Chat.Logic;

/// <summary>
/// The gRPC address brokers reach this logic node at (as registered in etcd), or null when logic runs
/// in the same process as the broker. A session grain names it in its answers, so a broker sends the
/// session's next messages to the node that holds the grain and saves a hop between silos.
/// </summary>
public sealed record LogicNodeAddress(string? GrpcAddress);
