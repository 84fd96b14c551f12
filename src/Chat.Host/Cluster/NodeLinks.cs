using System.Net.Sockets;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Chat.Protocol.Grpc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;

namespace Chat.Host.Cluster;

/// <summary>
/// The host's side of <see cref="INodeLinks"/>: besides the channels, which calls this node lets in
/// (<see cref="NodeCallInterceptor"/> asks <see cref="Refusal"/> before every call). A broker's
/// credential calls LogicDealer only, a logic node's the Broker service only.
/// </summary>
internal abstract class NodeGate(IOptions<ClusterOptions> options) : INodeLinks
{
    private static readonly string LogicDealerMethods = "/" + LogicDealer.Descriptor.FullName + "/";
    private static readonly string BrokerMethods = "/" + global::Chat.Protocol.Grpc.Broker.Descriptor.FullName + "/";

    public abstract Metadata Headers { get; }

    public abstract GrpcChannel ChannelTo(string address, NodeRole role);

    public abstract NodeCaller CallerOf(ServerCallContext context);

    /// <summary>Why this call is not let in; null if it is.</summary>
    public abstract Status? Refusal(ServerCallContext context);

    /// <summary>
    /// A link's HTTP handler. Grpc.Net.Client leaves connections to a handler that has its own ConnectCallback (no
    /// subchannels, no gRPC reconnect backoff: <c>GrpcChannelOptions.MaxReconnectBackoff</c> does nothing here), so the
    /// handler bounds what a partition leaves behind: without pings a connection dead since the cut is used again after
    /// the heal and waits on TCP's retransmission backoff (its timeout doubles with every retransmission: tens of seconds
    /// after a minute's cut, past the 10 s a push is retried, the likely cause of a NewSession lost once to a broker that
    /// was back in the 60 s partition test), and without a connect timeout so may an attempt started during the cut. A
    /// connection that stops answering is closed within <see cref="ClusterOptions.LinkPingAfter"/> and
    /// <see cref="ClusterOptions.LinkPingTimeout"/>; an attempt lasts <see cref="ClusterOptions.LinkConnectTimeout"/> at most.
    /// </summary>
    protected SocketsHttpHandler Handler() => new()
    {
        EnableMultipleHttp2Connections = true,
        ConnectCallback = ConnectAbortiveAsync,
        ConnectTimeout = options.Value.LinkConnectTimeout,
        KeepAlivePingDelay = options.Value.LinkPingAfter,
        KeepAlivePingTimeout = options.Value.LinkPingTimeout,
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
    };

    /// <summary>
    /// How a link's TCP connection is made: closed abortively (RST, linger 0). A link closed while its peer does not
    /// answer (a partition) must not leave its unsent requests in the kernel to be delivered once the network heals:
    /// pushes cancelled long ago would then reach their sockets after a gap, or behind the replay that replaced them.
    /// </summary>
    protected static async ValueTask<Stream> ConnectAbortiveAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The role a method's caller must have: a broker calls logic's LogicDealer, logic calls a broker's Broker service; null for the rest (health, reflection).</summary>
    protected static NodeRole? RoleFor(string method) =>
        method.StartsWith(LogicDealerMethods, StringComparison.Ordinal) ? NodeRole.Broker
        : method.StartsWith(BrokerMethods, StringComparison.Ordinal) ? NodeRole.Logic
        : null;
}

/// <summary>
/// Plaintext h2c and the cluster's shared secret on every call (<c>Chat:Cluster:Tls</c> not set): for
/// loopback and development only. Every holder of the secret is every node at once, so roles cannot be
/// told apart, and anyone who can read the traffic has the secret.
/// </summary>
internal sealed class PlainNodeLinks(ClusterSecret secret, IOptions<ClusterOptions> options) : NodeGate(options)
{
    private const string HealthService = "/grpc.health.v1.Health/";

    public override Metadata Headers => secret.Headers;

    public override GrpcChannel ChannelTo(string address, NodeRole role) =>
        GrpcChannel.ForAddress($"http://{address}", new GrpcChannelOptions
        {
            HttpHandler = Handler(),
            DisposeHttpClient = true,
        });

    public override NodeCaller CallerOf(ServerCallContext context) => NodeCaller.HolderOfTheSecret;

    /// <summary>The secret, on every call but the standard health service's (it says no more than <c>/readyz</c>, to probes that carry no secret).</summary>
    public override Status? Refusal(ServerCallContext context) =>
        secret.IsPresentedBy(context.RequestHeaders) || context.Method.StartsWith(HealthService, StringComparison.Ordinal)
            ? null
            : new Status(StatusCode.Unauthenticated, "this service answers the cluster's own nodes only");
}

/// <summary>
/// gRPC over TLS with mutual authentication from the cluster's CA (<c>Chat:Cluster:Tls</c>). A node
/// dials another only if the handshake shows a certificate of the cluster in the role it expects (a
/// broker's naming the address dialed), and takes calls only from certificates of the cluster that name
/// a role; the role then decides which service it may call. No secret travels.
/// </summary>
internal sealed partial class TlsNodeLinks(NodeCertificates certificates, IOptions<ClusterOptions> options, ILogger<TlsNodeLinks> logger) : NodeGate(options)
{
    private static readonly Metadata None = [];
    private readonly ConditionalWeakTable<X509Certificate2, NodeCallerOrRefusal> _callers = [];

    public override Metadata Headers => None;

    /// <summary>This node's certificate, which it shows as a server and as a client.</summary>
    public X509Certificate2 Certificate => certificates.Certificate;

    public override GrpcChannel ChannelTo(string address, NodeRole role)
    {
        var handler = Handler();
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificates.Certificate,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) => Admits(certificate, chain, address, role),
        };
        return GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    public override NodeCaller CallerOf(ServerCallContext context) =>
        CallerOf(context.GetHttpContext().Connection.ClientCertificate).Caller
        ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "no certificate of the cluster's")); // the interceptor let no such call in

    public override Status? Refusal(ServerCallContext context)
    {
        var caller = CallerOf(context.GetHttpContext().Connection.ClientCertificate);
        if (caller.Caller is not { } known)
        {
            return new Status(StatusCode.Unauthenticated, "this service answers the cluster's own nodes only");
        }

        return RoleFor(context.Method) is { } needed && known.Role != needed
            ? new Status(StatusCode.PermissionDenied, $"a {Word(known.Role)}'s certificate may not call this service")
            : null;
    }

    /// <summary>Kestrel's check of a client's certificate at the handshake: the cluster's, naming a role.</summary>
    public bool AdmitsClient(X509Certificate2 certificate, X509Chain? chain)
    {
        var caller = Identify(certificate, chain);
        if (caller.Refusal is { } why)
        {
            Log.ClientRefused(logger, certificate.Subject, certificate.Thumbprint, why);
            return false;
        }

        _callers.AddOrUpdate(certificate, caller); // the connection's calls read it from here
        return true;
    }

    /// <summary>A server this node dialed: the cluster's, in the expected role, and a broker at the address dialed.</summary>
    private bool Admits(X509Certificate? presented, X509Chain? chain, string address, NodeRole role)
    {
        if (presented is null)
        {
            Log.ServerRefused(logger, address, "(none)", "it showed no certificate");
            return false;
        }

        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        var caller = Identify(certificate, chain);
        var why = caller.Refusal
            ?? (caller.Caller!.Role != role ? $"it is a {Word(caller.Caller.Role)}'s, not a {Word(role)}'s" : null)
            ?? (role == NodeRole.Broker && caller.Caller.Address != address ? $"it names the address '{caller.Caller.Address ?? "(none)"}', not {address}" : null);
        if (why is not null)
        {
            Log.ServerRefused(logger, address, certificate.Subject, why);
            return false;
        }

        return true;
    }

    /// <summary>A connection's client certificate, as the handshake judged it (Kestrel keeps one object per connection).</summary>
    private NodeCallerOrRefusal CallerOf(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return NodeCallerOrRefusal.NoCertificate;
        }

        if (!_callers.TryGetValue(certificate, out var caller))
        {
            caller = Identify(certificate, null);
            _callers.AddOrUpdate(certificate, caller);
        }

        return caller;
    }

    private NodeCallerOrRefusal Identify(X509Certificate2 certificate, X509Chain? chain)
    {
        if (certificates.ChainRefusal(certificate, chain) is { } why)
        {
            return new NodeCallerOrRefusal(null, $"it does not chain to the cluster's CA: {why}");
        }

        var names = NodeNames.Of(certificate);
        return names.Caller is { } caller
            ? new NodeCallerOrRefusal(caller, null)
            : new NodeCallerOrRefusal(null, names.Problem is { } problem ? $"it {problem}" : $"it names no role ({NodeCertificates.RolePrefix}broker or logic)");
    }

    private static string Word(NodeRole? role) => role == NodeRole.Logic ? "logic node" : "broker";

    private sealed record NodeCallerOrRefusal(NodeCaller? Caller, string? Refusal)
    {
        public static readonly NodeCallerOrRefusal NoCertificate = new(null, "no certificate");
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a gRPC connection: the client's certificate {Subject} ({Thumbprint}) is not a node's of the cluster: {Reason}.")]
        public static partial void ClientRefused(ILogger logger, string subject, string thumbprint, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Did not talk to {Address}: its certificate {Subject} was refused: {Reason}; nothing was sent to it.")]
        public static partial void ServerRefused(ILogger logger, string address, string subject, string reason);
    }
}
