using Grpc.Core;
using Grpc.Net.Client;

namespace Chat.Protocol.Grpc;

/// <summary>What a node of a cluster is, as its certificate says (a SAN URI <c>urn:chat:role:broker</c> or <c>urn:chat:role:logic</c>).</summary>
public enum NodeRole
{
    Broker,
    Logic,
}

/// <summary>
/// Who made a call this node serves. With TLS: the role and the address its certificate names
/// (a broker's address is where logic pushes to it, <c>urn:chat:address:host:port</c>). Without:
/// <see cref="HolderOfTheSecret"/>, any node at all, since one secret is all they share.
/// </summary>
public sealed record NodeCaller(NodeRole? Role, string? Address)
{
    public static readonly NodeCaller HolderOfTheSecret = new(null, null);

    /// <summary>A broker whose certificate named it: the address its requests must give, and the one its visitors' accounts are bound to.</summary>
    public string? BrokerAddress => Role == NodeRole.Broker ? Address : null;

    /// <summary>It may be told what only logic is told (the broker's incarnation).</summary>
    public bool MayBeLogic => Role is null or NodeRole.Logic;
}

/// <summary>
/// How this node's gRPC calls to the others travel, and who calls it: TLS with mutual authentication
/// from the cluster's CA, each side admitted in the role its certificate names; or, for loopback and
/// development only, plaintext h2c with the shared secret on every call. One per node, from the host.
/// </summary>
public interface INodeLinks
{
    /// <summary>
    /// A channel to the node at <paramref name="address"/> (host:port). With TLS the handshake fails unless
    /// the node shows a certificate of the cluster in <paramref name="role"/> (a broker's naming that very
    /// address), so nothing of a call ever reaches a node that is not one of ours.
    /// </summary>
    GrpcChannel ChannelTo(string address, NodeRole role);

    /// <summary>What every call carries: the secret without TLS; nothing with it (the certificate says who calls).</summary>
    Metadata Headers { get; }

    /// <summary>The caller of a call this node serves (strangers were refused before the service saw it).</summary>
    NodeCaller CallerOf(ServerCallContext context);
}
