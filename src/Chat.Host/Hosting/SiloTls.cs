using System.Security.Cryptography.X509Certificates;
using Chat.Host.Cluster;
using Chat.Protocol.Grpc;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Chat.Host.Hosting;

/// <summary>
/// TLS between the silos of logic nodes (<c>Chat:Silo:Tls</c>). Every node holds a certificate signed by
/// the cluster's own CA and talks only to peers whose certificate chains to that CA, both ways (mutual).
/// Nothing set: the silo port speaks plain Orleans, which only a silo on loopback may (or with --insecure).
/// </summary>
public sealed class SiloTlsOptions : TlsFileOptions
{
    public const string Section = SiloOptions.Section + ":Tls";
}

public static class SiloTls
{
    /// <summary>Turns on mutual TLS for silo-to-silo connections, if <c>Chat:Silo:Tls</c> asks for it.</summary>
    /// <exception cref="InvalidOperationException">A setting is missing, a file cannot be read, or this node's certificate would be refused by its peers.</exception>
    public static ISiloBuilder UseChatTls(this ISiloBuilder silo, SiloTlsOptions options)
    {
        if (!options.Wanted)
        {
            return silo;
        }

        var trust = SiloTrust.Load(options);

        // Orleans logs only that a handshake failed; which certificate was refused and why goes to the log from
        // here, once the services (and their logger) exist, which is before the silo opens a connection.
        silo.Services.AddOptions<SiloConnectionOptions>().Configure<ILogger<SiloTrust>>((_, logger) => trust.Logger = logger);
        return silo.UseTls(trust.Certificate, tls =>
        {
            // Both sides show a certificate and check the other's: a node dialing out is as much a stranger as one dialing in.
            tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.CheckCertificateRevocation = false;

            // Replaces the platform's verdict (system roots, host name): peers are dialed by the IP address in the
            // membership table, and any logic node with a certificate from the cluster's CA is a member, so the CA is the question.
            tls.RemoteCertificateValidation = (certificate, chain, _) => trust.Admits(certificate, chain);
        });
    }
}

/// <summary>
/// This node's certificate and the cluster's CA, read once at start. A peer is admitted if its certificate
/// chains to the CA and names no role but logic: the CA may also sign brokers' certificates (for the gRPC
/// links), and a broker's must not make it a silo. A certificate naming no role (made before roles were
/// named) is a logic node's, as only logic nodes were given one for the silo port.
/// </summary>
internal sealed partial class SiloTrust
{
    private readonly NodeCertificates _certificates;

    private SiloTrust(NodeCertificates certificates) => _certificates = certificates;

    public X509Certificate2 Certificate => _certificates.Certificate;

    public ILogger? Logger { get; set; }

    /// <summary>Reads and checks the files, saying which setting is wrong and how.</summary>
    public static SiloTrust Load(SiloTlsOptions options)
    {
        var certificates = NodeCertificates.Load(options, SiloTlsOptions.Section);
        if (certificates.Names.Role is NodeRole.Broker)
        {
            throw new InvalidOperationException($"{SiloTlsOptions.Section}:CertificatePath: the certificate {certificates.Certificate.Subject} is a broker's ({NodeCertificates.RolePrefix}broker); a silo needs a logic node's.");
        }

        return new SiloTrust(certificates);
    }

    /// <summary>Whether a peer's certificate is a logic node's of the cluster (chains to the CA, within its dates, no other role).</summary>
    public bool Admits(X509Certificate2 peer, X509Chain? presented)
    {
        var why = _certificates.ChainRefusal(peer, presented);
        why ??= NodeNames.Of(peer) is { Problem: null, Role: null or NodeRole.Logic } ? null : "its certificate is not a logic node's";
        if (why is null)
        {
            return true;
        }

        if (Logger is { } logger)
        {
            Log.PeerRefused(logger, peer.Subject, peer.Thumbprint, why);
        }

        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a silo connection: the peer's certificate {Subject} ({Thumbprint}) is not a logic node's of the cluster: {Reason}")]
        public static partial void PeerRefused(ILogger logger, string subject, string thumbprint, string reason);
    }
}
