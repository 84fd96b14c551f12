using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace Chat.Testing.Cluster;

/// <summary>
/// A cluster's certificates in one folder, made by deploy/cluster-certs.sh (run with bash from a copy
/// in that folder), as people make theirs: the CA, a certificate per node naming its role and
/// address, etcd's, and an admin's client certificate. Files: <c>NAME.pem</c> and <c>NAME.key</c>.
/// </summary>
public sealed class ClusterCertificates(string folder)
{
    public const string Etcd = "etcd", Admin = "chat-admin";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public string Folder => folder;

    public string CaPath => Path.Combine(folder, "ca.pem");

    public string CertificateOf(string name) => Path.Combine(folder, name + ".pem");

    public string KeyOf(string name) => Path.Combine(folder, name + ".key");

    /// <summary>The CA (kept if it exists), etcd's certificate for 127.0.0.1 (and <paramref name="etcdHost"/>) and the admin's client certificate.</summary>
    public async Task MakeAsync(CancellationToken cancellationToken, string etcdHost = "127.0.0.1")
    {
        await RunAsync(["ca", folder], cancellationToken);
        await RunAsync(["etcd", folder, Etcd, .. new[] { "127.0.0.1", etcdHost }.Distinct(), "localhost"], cancellationToken);
        await RunAsync(["client", folder, Admin], cancellationToken);
    }

    /// <summary>A node's certificate: <paramref name="role"/> (broker or logic) at <paramref name="address"/> (host:port of its gRPC service).</summary>
    public Task IssueNodeAsync(string name, string role, string address, CancellationToken cancellationToken) =>
        RunAsync(["node", folder, name, role, address], cancellationToken);

    /// <summary>The CA and etcd's and the admin's certificates, in a new folder of the test's (a CA of its own: another cluster's, to the rest).</summary>
    public static async Task<ClusterCertificates> MakeInAsync(string folder)
    {
        var certificates = new ClusterCertificates(folder);
        await certificates.MakeAsync(CancellationToken.None);
        return certificates;
    }

    /// <summary>A certificate with its key, as a node or a client shows it.</summary>
    public X509Certificate2 Load(string name) => X509Certificate2.CreateFromPemFile(CertificateOf(name), KeyOf(name));

    /// <summary>
    /// A gRPC channel to <paramref name="address"/> over TLS as a test's own client: it shows this CA's certificate
    /// <paramref name="name"/> (none if null) and believes any server certificate that chains to this CA, or to
    /// <paramref name="trusting"/>'s (a stranger who knows the cluster's CA, so that any refusal is the server's).
    /// </summary>
    public GrpcChannel ChannelTo(string address, string? name, ClusterCertificates? trusting = null)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile((trusting ?? this).CaPath);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = name is null ? null : [Load(name)],
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                },
            },
        };
        return GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    /// <summary>etcd's security as the cluster runs it, with these certificates.</summary>
    public EtcdSecurity EtcdSecurity(string rootPassword, IReadOnlyList<EtcdUser> users) =>
        new(CaPath, CertificateOf(Etcd), KeyOf(Etcd), CertificateOf(Admin), KeyOf(Admin), rootPassword, users);

    private async Task RunAsync(string[] arguments, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var script = Path.Combine(folder, "cluster-certs.sh");
        if (!File.Exists(script))
        {
            await File.WriteAllTextAsync(script, DeployFiles.ClusterCertsScript, cancellationToken);
        }

        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Limit);
        await process.WaitForExitAsync(deadline.Token); // it ends by itself: openssl, a few files
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"cluster-certs.sh {string.Join(' ', arguments)} failed ({process.ExitCode}): {await errors}{await output}");
        }
    }
}
