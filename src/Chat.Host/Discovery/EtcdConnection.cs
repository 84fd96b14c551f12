using System.Security.Cryptography.X509Certificates;
using Chat.Host.Cluster;
using dotnet_etcd;

namespace Chat.Host.Discovery;

/// <summary>
/// The etcd client of a broker or a logic node: https:// etcd is checked against its CA (and must not be
/// a node of ours: an etcd server's certificate names no role), and the node shows its own certificate
/// (for etcd's <c>--client-cert-auth</c>); with a user, every call carries its token, fetched again every minute.
/// </summary>
internal static class EtcdConnection
{
    private static readonly TimeSpan TokenFor = TimeSpan.FromMinutes(1); // below etcd's --auth-token-ttl (5 min by default)

    public static EtcdClient Open(ClusterOptions options, ClusterTransport transport)
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
            })
            : new EtcdClient(urls);
        if (!string.IsNullOrWhiteSpace(options.EtcdUser))
        {
            client.SetCredentials(options.EtcdUser, options.ReadEtcdPassword(), TokenFor);
        }

        return client;
    }

    private static bool IsEtcd(X509Certificate2 certificate, X509Certificate2Collection authorities) =>
        NodeCertificates.ChainRefusal(authorities, certificate, presented: null) is null && NodeNames.Of(certificate).Role is null;
}
