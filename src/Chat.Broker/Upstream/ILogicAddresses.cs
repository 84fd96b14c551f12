namespace Chat.Broker.Upstream;

/// <summary>Where logic nodes answer gRPC (host:port each): a fixed list, or what etcd says now.</summary>
public interface ILogicAddresses
{
    /// <summary>The addresses known now; empty while none is known.</summary>
    IReadOnlyList<string> Current { get; }
}

/// <summary>A fixed list from configuration (<c>Chat:Upstream:Logic</c>), for a cluster without etcd.</summary>
internal sealed class StaticLogicAddresses(IReadOnlyList<string> addresses) : ILogicAddresses
{
    public IReadOnlyList<string> Current { get; } = addresses;
}
