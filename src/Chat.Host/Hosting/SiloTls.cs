using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Chat.Host.Hosting;

/// <summary>
/// TLS between the silos of logic nodes (<c>Chat:Silo:Tls</c>). Every node holds a certificate signed by
/// the cluster's own CA and talks only to peers whose certificate chains to that CA, both ways (mutual).
/// Nothing set: the silo port speaks plain Orleans, as before.
/// </summary>
public sealed class SiloTlsOptions
{
    public const string Section = SiloOptions.Section + ":Tls";

    /// <summary>This node's certificate with its private key, a PFX (PKCS#12) file. Setting it turns TLS on.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>A file that holds the PFX's password (a trailing newline is ignored); unset for a PFX without one.</summary>
    public string? CertificatePasswordFile { get; set; }

    /// <summary>The cluster's CA certificate (PEM; several are allowed, e.g. old and new while the CA is replaced). A peer is accepted only if its certificate chains to one of them.</summary>
    public string? CaPath { get; set; }

    /// <summary>Any of the settings is given: TLS is wanted, so the rest must be right or the node does not start.</summary>
    public bool Wanted => !(string.IsNullOrWhiteSpace(CertificatePath) && string.IsNullOrWhiteSpace(CaPath) && string.IsNullOrWhiteSpace(CertificatePasswordFile));
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
            // membership table, and any holder of a certificate from the cluster's CA is a member, so the CA is the only question.
            tls.RemoteCertificateValidation = (certificate, chain, _) => trust.Admits(certificate, chain);
        });
    }
}

/// <summary>This node's certificate and the cluster's CA, read once at start.</summary>
internal sealed partial class SiloTrust
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";
    private readonly X509Certificate2Collection _authorities;

    private SiloTrust(X509Certificate2 certificate, X509Certificate2Collection authorities) => (Certificate, _authorities) = (certificate, authorities);

    public X509Certificate2 Certificate { get; }

    public ILogger? Logger { get; set; }

    /// <summary>Reads and checks the files, saying which setting is wrong and how.</summary>
    public static SiloTrust Load(SiloTlsOptions options)
    {
        var certificatePath = Required(options.CertificatePath, nameof(SiloTlsOptions.CertificatePath), "this node's certificate and private key, a PFX (PKCS#12) file");
        var caPath = Required(options.CaPath, nameof(SiloTlsOptions.CaPath), "the cluster's CA certificate, PEM, that every node's certificate is signed by");
        var password = string.IsNullOrWhiteSpace(options.CertificatePasswordFile)
            ? null
            : Read(options.CertificatePasswordFile, nameof(SiloTlsOptions.CertificatePasswordFile), File.ReadAllText).TrimEnd('\r', '\n');

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12(Read(certificatePath, nameof(SiloTlsOptions.CertificatePath), File.ReadAllBytes), password);
        }
        catch (CryptographicException ex)
        {
            var hint = password is null ? "if it has a password, set Chat:Silo:Tls:CertificatePasswordFile" : "check the password in Chat:Silo:Tls:CertificatePasswordFile";
            throw Misconfigured(nameof(SiloTlsOptions.CertificatePath), $"'{certificatePath}' could not be opened as a PFX (PKCS#12) file ({ex.Message.TrimEnd('.')}); {hint}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            throw Misconfigured(nameof(SiloTlsOptions.CertificatePath), $"'{certificatePath}' holds no private key for {certificate.Subject}: export the PFX with the node's key");
        }

        // A node is the server of the peers that dial it and the client of those it dials: Orleans refuses a certificate restricted to one.
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages
            && !(Allows(usages, ServerAuth) && Allows(usages, ClientAuth)))
        {
            throw Misconfigured(nameof(SiloTlsOptions.CertificatePath), $"the certificate {certificate.Subject} must allow both serverAuth and clientAuth (extendedKeyUsage)");
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPem(Read(caPath, nameof(SiloTlsOptions.CaPath), File.ReadAllText));
        }
        catch (CryptographicException ex)
        {
            throw Misconfigured(nameof(SiloTlsOptions.CaPath), $"'{caPath}' is not a PEM certificate file ({ex.Message.TrimEnd('.')})", ex);
        }

        if (authorities.Count == 0)
        {
            throw Misconfigured(nameof(SiloTlsOptions.CaPath), $"'{caPath}' holds no certificate (expected -----BEGIN CERTIFICATE-----)");
        }

        var trust = new SiloTrust(certificate, authorities);
        if (trust.Refusal(certificate, presented: null) is { } why)
        {
            throw Misconfigured(nameof(SiloTlsOptions.CertificatePath), $"this node's certificate {certificate.Subject} does not chain to the CA in '{caPath}' ({why}), so the other nodes would refuse it");
        }

        return trust;
    }

    /// <summary>Whether a peer's certificate chains to the cluster's CA (and is within its dates).</summary>
    public bool Admits(X509Certificate2 peer, X509Chain? presented)
    {
        if (Refusal(peer, presented) is not { } why)
        {
            return true;
        }

        if (Logger is { } logger)
        {
            Log.PeerRefused(logger, peer.Subject, peer.Thumbprint, why);
        }

        return false;
    }

    private string? Refusal(X509Certificate2 peer, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // a small CA publishes no revocation list: replace the CA to shut a node out
        chain.ChainPolicy.DisableCertificateDownloads = true;
        foreach (var element in presented?.ChainElements ?? Enumerable.Empty<X509ChainElement>())
        {
            chain.ChainPolicy.ExtraStore.Add(element.Certificate); // intermediates the peer sent; only the CA is trusted as a root
        }

        return chain.Build(peer)
            ? null
            : string.Join("; ", chain.ChainStatus.Select(status => status.StatusInformation.Trim()).Where(text => text.Length > 0).DefaultIfEmpty("not trusted"));
    }

    private static bool Allows(X509EnhancedKeyUsageExtension usages, string oid) =>
        usages.EnhancedKeyUsages.Cast<Oid>().Any(usage => usage.Value == oid);

    private static string Required(string? path, string setting, string what) =>
        string.IsNullOrWhiteSpace(path) ? throw Misconfigured(setting, $"not set; it names {what} (TLS between logic nodes needs CertificatePath and CaPath)") : path;

    private static T Read<T>(string path, string setting, Func<string, T> read)
    {
        try
        {
            return read(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Misconfigured(setting, $"no file at '{Path.GetFullPath(path)}'", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Misconfigured(setting, $"cannot read '{path}' ({ex.Message.TrimEnd('.')})", ex);
        }
    }

    private static InvalidOperationException Misconfigured(string setting, string problem, Exception? inner = null) =>
        new($"{SiloTlsOptions.Section}:{setting}: {problem}.", inner);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a silo connection: the peer's certificate {Subject} ({Thumbprint}) does not chain to the cluster's CA: {Reason}")]
        public static partial void PeerRefused(ILogger logger, string subject, string thumbprint, string reason);
    }
}
