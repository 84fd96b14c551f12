using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Chat.Protocol.Grpc;

namespace Chat.Host.Cluster;

/// <summary>
/// The files a node's TLS is made of, shaped alike wherever nodes talk TLS (<c>Chat:Cluster:Tls</c>
/// between brokers and logic nodes, <c>Chat:Silo:Tls</c> between silos): this node's certificate and
/// key, and the cluster's CA. Nothing set: that link is plain.
/// </summary>
public abstract class TlsFileOptions
{
    /// <summary>This node's certificate: a PFX (PKCS#12) file with its private key, or a PEM certificate (key in <see cref="KeyPath"/>). Setting it turns TLS on.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>With a PEM certificate: its private key (PEM); unset if the certificate's file holds the key too.</summary>
    public string? KeyPath { get; set; }

    /// <summary>A file that holds the PFX's password, or the PEM key's (a trailing newline is ignored); unset for a file without one.</summary>
    public string? CertificatePasswordFile { get; set; }

    /// <summary>The cluster's CA certificate (PEM; several are allowed, e.g. old and new while the CA is replaced). A peer is accepted only if its certificate chains to one of them.</summary>
    public string? CaPath { get; set; }

    /// <summary>Any of the settings is given: TLS is wanted, so the rest must be right or the node does not start.</summary>
    public bool Wanted => !(string.IsNullOrWhiteSpace(CertificatePath) && string.IsNullOrWhiteSpace(KeyPath) && string.IsNullOrWhiteSpace(CaPath) && string.IsNullOrWhiteSpace(CertificatePasswordFile));
}

/// <summary>TLS with mutual authentication between brokers and logic nodes (<c>Chat:Cluster:Tls</c>).</summary>
public sealed class ClusterTlsOptions : TlsFileOptions
{
    public const string Section = ClusterOptions.Section + ":Tls";
}

/// <summary>
/// This node's certificate and the cluster's CA, read once at start and checked, and what a peer's
/// certificate says: whether it chains to the CA (within its dates), and which node it names. A node's
/// role and address are SAN URIs, <c>urn:chat:role:broker</c> or <c>urn:chat:role:logic</c>, and
/// <c>urn:chat:address:host:port</c> (the gRPC address other nodes reach it at; a broker's is where
/// logic pushes to it). A URI rather than a DNS or IP name: the address includes the port (several
/// nodes may share a host, as all of them do on one machine), and it is compared as the exact string
/// the nodes exchange and store, never resolved, beside whatever DNS or IP names the certificate also has.
/// </summary>
internal sealed class NodeCertificates
{
    public const string RolePrefix = "urn:chat:role:", AddressPrefix = "urn:chat:address:";
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";
    private readonly X509Certificate2Collection _authorities;

    private NodeCertificates(X509Certificate2 certificate, X509Certificate2Collection authorities, NodeNames names) =>
        (Certificate, _authorities, Names) = (certificate, authorities, names);

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>What this node's own certificate names.</summary>
    public NodeNames Names { get; }

    /// <summary>Reads and checks the files, saying which setting (under <paramref name="section"/>) is wrong and how.</summary>
    /// <exception cref="InvalidOperationException">A setting is missing, a file cannot be read, or this node's certificate would be refused by its peers.</exception>
    public static NodeCertificates Load(TlsFileOptions options, string section)
    {
        var files = new Files(section);
        var certificatePath = files.Required(options.CertificatePath, nameof(TlsFileOptions.CertificatePath), "this node's certificate and private key (a PFX file, or PEM with KeyPath)");
        var caPath = files.Required(options.CaPath, nameof(TlsFileOptions.CaPath), "the cluster's CA certificate, PEM, that every node's certificate is signed by");
        var password = string.IsNullOrWhiteSpace(options.CertificatePasswordFile)
            ? null
            : files.Read(options.CertificatePasswordFile, nameof(TlsFileOptions.CertificatePasswordFile), File.ReadAllText).TrimEnd('\r', '\n');

        var certificate = LoadCertificate(files, certificatePath, options.KeyPath, password);
        if (!certificate.HasPrivateKey)
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CertificatePath), $"'{certificatePath}' holds no private key for {certificate.Subject}: give the node's key with it (KeyPath for PEM)");
        }

        // A node is the server of the peers that dial it and the client of those it dials.
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages
            && !(Allows(usages, ServerAuth) && Allows(usages, ClientAuth)))
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CertificatePath), $"the certificate {certificate.Subject} must allow both serverAuth and clientAuth (extendedKeyUsage)");
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPem(files.Read(caPath, nameof(TlsFileOptions.CaPath), File.ReadAllText));
        }
        catch (CryptographicException ex)
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CaPath), $"'{caPath}' is not a PEM certificate file ({ex.Message.TrimEnd('.')})", ex);
        }

        if (authorities.Count == 0)
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CaPath), $"'{caPath}' holds no certificate (expected -----BEGIN CERTIFICATE-----)");
        }

        var names = NodeNames.Of(certificate);
        if (names.Problem is { } problem)
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CertificatePath), $"the certificate {certificate.Subject} {problem}");
        }

        var loaded = new NodeCertificates(certificate, authorities, names);
        if (loaded.ChainRefusal(certificate, presented: null) is { } why)
        {
            throw files.Misconfigured(nameof(TlsFileOptions.CertificatePath), $"this node's certificate {certificate.Subject} does not chain to the CA in '{caPath}' ({why}), so the other nodes would refuse it");
        }

        return loaded;
    }

    /// <summary>Why a peer's certificate is not the cluster's (it does not chain to one of its CAs, or is out of its dates); null if it is.</summary>
    public string? ChainRefusal(X509Certificate2 peer, X509Chain? presented) => ChainRefusal(_authorities, peer, presented);

    /// <summary>Why <paramref name="peer"/> does not chain to one of <paramref name="authorities"/> (or is out of its dates); null if it does.</summary>
    public static string? ChainRefusal(X509Certificate2Collection authorities, X509Certificate2 peer, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
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

    private static X509Certificate2 LoadCertificate(Files files, string certificatePath, string? keyPath, string? password)
    {
        var bytes = files.Read(certificatePath, nameof(TlsFileOptions.CertificatePath), File.ReadAllBytes);
        var pem = !string.IsNullOrWhiteSpace(keyPath) || bytes.AsSpan().IndexOf("-----BEGIN"u8) >= 0;
        try
        {
            if (!pem)
            {
                return X509CertificateLoader.LoadPkcs12(bytes, password);
            }

            if (!string.IsNullOrWhiteSpace(keyPath))
            {
                files.Read(keyPath, nameof(TlsFileOptions.KeyPath), File.ReadAllBytes); // says which file is missing
            }

            return password is null
                ? X509Certificate2.CreateFromPemFile(certificatePath, string.IsNullOrWhiteSpace(keyPath) ? null : keyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(certificatePath, password, string.IsNullOrWhiteSpace(keyPath) ? null : keyPath);
        }
        catch (CryptographicException ex)
        {
            var hint = pem
                ? $"give a PEM certificate and its unencrypted private key (KeyPath), or set {files.Section}:CertificatePasswordFile for an encrypted one"
                : password is null ? $"if it has a password, set {files.Section}:CertificatePasswordFile" : $"check the password in {files.Section}:CertificatePasswordFile";
            throw files.Misconfigured(nameof(TlsFileOptions.CertificatePath), $"'{certificatePath}' could not be opened as {(pem ? "a PEM certificate with its key" : "a PFX (PKCS#12) file")} ({ex.Message.TrimEnd('.')}); {hint}", ex);
        }
    }

    private static bool Allows(X509EnhancedKeyUsageExtension usages, string oid) =>
        usages.EnhancedKeyUsages.Cast<Oid>().Any(usage => usage.Value == oid);

    /// <summary>Reading the files of one section, and saying which setting is wrong.</summary>
    private sealed class Files(string section)
    {
        public string Section => section;

        public string Required(string? path, string setting, string what) =>
            string.IsNullOrWhiteSpace(path) ? throw Misconfigured(setting, $"not set; it names {what} (TLS needs CertificatePath and CaPath)") : path;

        public T Read<T>(string path, string setting, Func<string, T> read)
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

        public InvalidOperationException Misconfigured(string setting, string problem, Exception? inner = null) =>
            new($"{section}:{setting}: {problem}.", inner);
    }
}

/// <summary>The node a certificate names (its SAN URIs): a role, an address, or neither; <see cref="Problem"/> if they contradict each other.</summary>
internal sealed record NodeNames(NodeRole? Role, string? Address, string? Problem)
{
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>The caller this certificate makes of its holder (a certificate without a role names no caller).</summary>
    public NodeCaller? Caller => Problem is null && Role is { } role ? new NodeCaller(role, Address) : null;

    public static NodeNames Of(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        try
        {
            foreach (var names in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
            {
                var sequence = new AsnReader(names.RawData, AsnEncodingRules.DER).ReadSequence();
                while (sequence.HasData)
                {
                    if (sequence.PeekTag().HasSameClassAndValue(UriTag))
                    {
                        uris.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                    }
                    else
                    {
                        sequence.ReadEncodedValue();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            return new NodeNames(null, null, "has a subject alternative name that cannot be read");
        }

        var roles = uris.Where(uri => uri.StartsWith(NodeCertificates.RolePrefix, StringComparison.Ordinal)).Select(uri => uri[NodeCertificates.RolePrefix.Length..]).Distinct().ToList();
        var addresses = uris.Where(uri => uri.StartsWith(NodeCertificates.AddressPrefix, StringComparison.Ordinal)).Select(uri => uri[NodeCertificates.AddressPrefix.Length..]).Distinct().ToList();
        NodeRole? role = roles switch
        {
            ["broker"] => NodeRole.Broker,
            ["logic"] => NodeRole.Logic,
            _ => null,
        };
        var problem = roles switch
        {
            [] or ["broker"] or ["logic"] => null,
            [var other] => $"names the role '{other}' ({NodeCertificates.RolePrefix}broker or {NodeCertificates.RolePrefix}logic expected)",
            _ => "names more than one role (a node is a broker or a logic node, and its certificate may act as that one only)",
        };
        problem ??= addresses.Count > 1 ? "names more than one address (urn:chat:address:host:port, once)" : null;
        problem ??= addresses is [var address] && NodeAddress.Problem(address) is { } bad ? $"names the address '{address}', which {bad}" : null;
        return new NodeNames(role, addresses.SingleOrDefault(), problem);
    }
}
