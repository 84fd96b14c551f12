using System.Security.Cryptography.X509Certificates;
using Chat.Host.Cluster;
using dotnet_etcd;
using Grpc.Core;

namespace Chat.Host.Discovery;

/// <summary>
/// The etcd client of a broker or a logic node: https:// etcd is checked against its CA (and must not be
/// a node of ours: an etcd server's certificate names no role), and the node shows its own certificate
/// (for etcd's <c>--client-cert-auth</c>); with a user, every call carries its token, fetched again every
/// minute, and at once after etcd refused it (a restarted etcd has forgotten every token it gave).
/// </summary>
internal sealed class EtcdConnection(ClusterOptions options, ClusterTransport transport)
{
    private static readonly TimeSpan TokenFor = TimeSpan.FromMinutes(1); // below etcd's --auth-token-ttl (5 min by default)

    public EtcdClient Client { get; } = Open(options, transport);

    /// <summary>After a failed call: a token etcd no longer knows is dropped, so the next call logs in again.</summary>
    public void Failed(Exception exception)
    {
        if (exception is RpcException { StatusCode: StatusCode.Unauthenticated } && !string.IsNullOrWhiteSpace(options.EtcdUser))
        {
            Client.SetCredentials(options.EtcdUser, options.ReadEtcdPassword(), TokenFor);
        }
    }

    /// <summary>
    /// gRPC's default reconnect backoff grows to two minutes while etcd is away; after a minute's outage a node
    /// found etcd again 11-14 s after its return (and its lease had run out meanwhile). Two seconds, as between nodes.
    /// </summary>
    private static void Reconnect(Grpc.Net.Client.GrpcChannelOptions channel) => channel.MaxReconnectBackoff = TimeSpan.FromSeconds(2);

    private static EtcdClient Open(ClusterOptions options, ClusterTransport transport)
    {
        var urls = string.Join(',', options.EtcdUrls);
        var client = options.EtcdUrls.All(url => url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            ? new EtcdClient(urls, ssl =>
            {
                var authorities = new X509Certificate2Collection();
                authorities.ImportFromPemFile(options.EtcdCa!);
                if (transport.Tls is { } tls)
                {
                    ssl.ClientCertificates = [tls.Certificate];
                    ssl.LocalCertificateSelectionCallback = (_, _, _, _, _) => tls.Certificate;
                }

                ssl.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
                ssl.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IsEtcd(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), authorities);
            }, configureChannelOptions: Reconnect)
            : new EtcdClient(urls, configureChannelOptions: Reconnect);
        if (!string.IsNullOrWhiteSpace(options.EtcdUser))
        {
            client.SetCredentials(options.EtcdUser, options.ReadEtcdPassword(), TokenFor);
        }

        return client;
    }

    private static bool IsEtcd(X509Certificate2 certificate, X509Certificate2Collection authorities) =>
        NodeCertificates.ChainRefusal(authorities, certificate, presented: null) is null && NodeNames.Of(certificate).Role is null;
}
