using Chat.Host.Hosting;
using Chat.Protocol.Grpc;
using Microsoft.Extensions.Options;

namespace Chat.Host.Cluster;

/// <summary>How this node of a cluster talks to the others, decided when it is built: its role, and its certificates if <c>Chat:Cluster:Tls</c> gives them (null: plain h2c with the secret).</summary>
internal sealed record ClusterTransport(NodeRole Role, NodeCertificates? Tls);

/// <summary>Says at start how this node talks to the others, loudly when it is plaintext.</summary>
internal sealed partial class ClusterTransportNotice(
    ClusterTransport transport,
    IOptions<ClusterOptions> options,
    IServiceProvider services,
    ILogger<ClusterTransportNotice> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var cluster = options.Value;
        if (transport.Tls is { } tls)
        {
            Log.Tls(logger, transport.Role == NodeRole.Logic ? "a logic node" : "a broker", tls.Names.Address ?? cluster.AdvertisedAddress, tls.Certificate.Subject);
        }
        else
        {
            var beyondLoopback = cluster.GrpcUrl is { } url && ListenUrl.Parse(url) is { Problem: null, IsLoopback: false };
            Log.Plaintext(logger, beyondLoopback ? "on a port beyond loopback, as --insecure allows: anyone on that network can read the secret and act as any node" : "for loopback and development only");
        }

        if (transport.Role == NodeRole.Logic && services.GetService<IOptions<SiloOptions>>()?.Value is { } silo && !silo.Tls.Wanted && !silo.ListensOnLoopback)
        {
            Log.PlainSilo(logger, silo.ListenAddress ?? silo.AdvertisedAddress);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Between nodes: TLS from the cluster's CA; this node is {Role} at {Address} ({Subject}).")]
        public static partial void Tls(ILogger logger, string role, string address, string subject);

        [LoggerMessage(2, LogLevel.Warning, "Between nodes: plaintext h2c with a shared secret (Chat:Cluster:Tls is not set), {Where}.")]
        public static partial void Plaintext(ILogger logger, string where);

        [LoggerMessage(3, LogLevel.Warning, "The silo port on {Address} is plain Orleans (Chat:Silo:Tls is not set), as --insecure allows: anyone who reaches it can join the cluster.")]
        public static partial void PlainSilo(ILogger logger, string address);
    }
}
