using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Authpb;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Chat.Testing.Cluster;

/// <summary>
/// A real one-node etcd (the Debian package's `etcd`) on free loopback ports with a data folder of
/// its own, stopped by the PID it was started with. It can be stopped and started again on the
/// same ports and data, as when etcd goes away for a while. Ready means its <c>/health</c> says so
/// (it has a leader and answers), not just that it listens. With <see cref="EtcdSecurity"/> it runs
/// as a cluster's etcd should: TLS, clients' certificates required (<c>--client-cert-auth</c>), and
/// authentication on, with a user per role allowed only what that role needs.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private const string Binary = "/usr/bin/etcd";
    private readonly string _folder;
    private readonly TempFolder? _temporary;
    private readonly string _log;
    private readonly int _peerPort;
    private OwnedProcess? _process;

    private EtcdServer(string folder, TempFolder? temporary, string log, int clientPort, int peerPort, EtcdSecurity? security, NetworkPlace place)
    {
        _folder = folder;
        _temporary = temporary;
        _log = log;
        ClientPort = clientPort;
        _peerPort = peerPort;
        Security = security;
        Place = place;
    }

    /// <summary>Where it runs: loopback, or a host of a fault network.</summary>
    public NetworkPlace Place { get; }

    public int ClientPort { get; }

    /// <summary>TLS, client certificates and users; null: plain, anyone may do anything.</summary>
    public EtcdSecurity? Security { get; }

    /// <summary>Where the nodes talk to it.</summary>
    public string ClientUrl => $"{Scheme}://{Place.Host}:{ClientPort}";

    /// <summary>Where this process talks to it (the same, on loopback; a door into its namespace, in a fault network).</summary>
    public string DoorUrl => $"{Scheme}://{Place.Door(ClientPort)}";

    private string Scheme => Security is null ? "http" : "https";

    public int PeerPort => _peerPort;

    /// <summary>The PID of the running etcd.</summary>
    public int ProcessId => (_process ?? throw new InvalidOperationException("etcd is not running")).Id;

    /// <summary>A throwaway etcd in a temp folder, deleted on dispose; secured as a cluster's if <paramref name="security"/> says how.</summary>
    public static async Task<EtcdServer> StartAsync(EtcdSecurity? security = null)
    {
        var temporary = TempFolder.Create("chat-etcd-");
        try
        {
            return await StartAsync(temporary.Path, temporary.File("etcd.log"), temporary, null, security, NetworkPlace.Loopback, CancellationToken.None);
        }
        catch
        {
            temporary.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An etcd with its data in <paramref name="folder"/> (emptied first: it holds only leases that end
    /// within seconds, and users made again at each start), on <paramref name="ports"/> or new free ones.
    /// </summary>
    public static Task<EtcdServer> StartAsync(string folder, string log, (int Client, int Peer)? ports, CancellationToken cancellationToken, EtcdSecurity? security = null, NetworkPlace? place = null) =>
        StartAsync(folder, log, null, ports, security, place ?? NetworkPlace.Loopback, cancellationToken);

    /// <summary>
    /// A client of this etcd as <paramref name="user"/> (root by default, with TLS); plain etcd: a client
    /// like any other. Over TLS it shows the admin's client certificate and trusts the cluster's CA.
    /// </summary>
    public EtcdClient Client(string? user = null)
    {
        if (Security is not { } security)
        {
            return new EtcdClient(DoorUrl);
        }

        var client = new EtcdClient(DoorUrl, ssl => security.ConfigureClient(ssl));
        var name = user ?? EtcdSecurity.Root;
        client.SetCredentials(name, name == EtcdSecurity.Root ? security.RootPassword : security.Users.Single(u => u.Name == name).Password);
        return client;
    }

    /// <summary>Stops it (SIGTERM); its data stays for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.StopAsync(killAfter: true);
            await process.DisposeAsync();
        }
    }

    /// <summary>Starts it again on the same ports and data; waits until it is healthy.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: apt-get install -y etcd-server (.ci/run installs it)");
        }

        Directory.CreateDirectory(_folder);
        var peer = $"http://127.0.0.1:{_peerPort}"; // its own loopback, wherever it runs: it is a cluster of one
        var (program, arguments) = Place.Launch(Binary,
        [
            "--name", "default",
            "--data-dir", Path.Combine(_folder, "data"),
            "--listen-client-urls", ClientUrl,
            "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"default={peer}",
            "--log-level", "warn",
            .. Security is { } security
                ? ["--cert-file", security.CertificatePath, "--key-file", security.KeyPath, "--trusted-ca-file", security.CaPath, "--client-cert-auth"]
                : Array.Empty<string>(),
        ]);
        var process = OwnedProcess.StartLogged("etcd", _log, program, arguments);
        _process = process;
        using var handler = new HttpClientHandler();
        if (Security is { } tls)
        {
            handler.ClientCertificates.Add(tls.ClientCertificate);
            handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && tls.IsEtcd(certificate);
        }

        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            // {"health":"true"} once it has a leader; "false" (or no answer) before.
            await process.WaitUntilReadyAsync(
                async token => (await http.GetStringAsync(new Uri($"{DoorUrl}/health"), token)).Contains("\"true\"", StringComparison.Ordinal),
                StartTimeout,
                "healthy",
                cancellationToken);
        }
        catch (PortTakenException)
        {
            _process = null;
            await process.DisposeAsync();
            throw;
        }

        if (Security is { } secured)
        {
            await secured.EnableAuthenticationAsync(DoorUrl, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _temporary?.Dispose();
    }

    private static Task<EtcdServer> StartAsync(string folder, string log, TempFolder? temporary, (int Client, int Peer)? ports, EtcdSecurity? security, NetworkPlace place, CancellationToken cancellationToken) =>
        PortTakenException.RetryAsync(ports is not null, async () =>
        {
            // Each attempt starts empty, so no member data names the ports of one that failed.
            if (Directory.Exists(Path.Combine(folder, "data")))
            {
                Directory.Delete(Path.Combine(folder, "data"), recursive: true);
            }

            var etcd = new EtcdServer(folder, temporary, log, ports?.Client ?? LoopbackPort.ForListening(), ports?.Peer ?? LoopbackPort.ForListening(), security, place);
            try
            {
                await etcd.StartAgainAsync(cancellationToken);
                return etcd;
            }
            catch (Exception ex) when (ex is not PortTakenException)
            {
                await etcd.StopAsync(); // one that is not healthy in time is not left running
                throw;
            }
        });
}

/// <summary>
/// How a cluster's etcd is secured: its server certificate and key, the CA every client's certificate
/// must chain to (and etcd's to), an admin's client certificate (a CN that is no user's, so the
/// certificate alone grants nothing), root's password, and the users to make, each allowed one prefix.
/// </summary>
public sealed record EtcdSecurity(
    string CaPath,
    string CertificatePath,
    string KeyPath,
    string ClientCertificatePath,
    string ClientKeyPath,
    string RootPassword,
    IReadOnlyList<EtcdUser> Users)
{
    public const string Root = "root";

    public X509Certificate2 ClientCertificate => field ??= X509Certificate2.CreateFromPemFile(ClientCertificatePath, ClientKeyPath);

    private X509Certificate2Collection Authorities
    {
        get
        {
            if (field is null)
            {
                field = [];
                field.ImportFromPemFile(CaPath);
            }

            return field;
        }
    }

    /// <summary>Whether <paramref name="presented"/> is etcd's: it chains to the CA.</summary>
    public bool IsEtcd(X509Certificate presented)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    public void ConfigureClient(SslClientAuthenticationOptions ssl)
    {
        ssl.ClientCertificates = [ClientCertificate];
        ssl.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IsEtcd(certificate);
    }

    /// <summary>Makes root and the users (each with a role of its own for its prefix) and turns authentication on, unless it is on already (a restart on the same data).</summary>
    public async Task EnableAuthenticationAsync(string url, CancellationToken cancellationToken)
    {
        using var etcd = new EtcdClient(url, ConfigureClient);
        try
        {
            await etcd.UserListAsync(new AuthUserListRequest(), cancellationToken: cancellationToken); // etcd 3.4 has no AuthStatus
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.FailedPrecondition)
        {
            return; // only root may list users: with authentication on, a call without a token is the admin certificate's CN, no user
        }

        await etcd.UserAddAsync(new AuthUserAddRequest { Name = Root, Password = RootPassword }, cancellationToken: cancellationToken);
        await etcd.RoleAddAsync(new AuthRoleAddRequest { Name = Root }, cancellationToken: cancellationToken);
        await etcd.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = Root, Role = Root }, cancellationToken: cancellationToken);
        foreach (var user in Users)
        {
            await etcd.RoleAddAsync(new AuthRoleAddRequest { Name = user.Name }, cancellationToken: cancellationToken);
            await etcd.RoleGrantPermissionAsync(
                new AuthRoleGrantPermissionRequest
                {
                    Name = user.Name,
                    Perm = new Permission
                    {
                        PermType = user.Write ? Permission.Types.Type.Readwrite : Permission.Types.Type.Read,
                        Key = ByteString.CopyFromUtf8(user.Prefix),
                        RangeEnd = ByteString.CopyFromUtf8(EtcdClient.GetRangeEnd(user.Prefix)),
                    },
                },
                cancellationToken: cancellationToken);
            await etcd.UserAddAsync(new AuthUserAddRequest { Name = user.Name, Password = user.Password }, cancellationToken: cancellationToken);
            await etcd.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = user.Name, Role = user.Name }, cancellationToken: cancellationToken);
        }

        await etcd.AuthEnableAsync(new AuthEnableRequest(), cancellationToken: cancellationToken);
    }
}

/// <summary>An etcd user of the cluster: read (brokers) or read and write (logic nodes) under one prefix.</summary>
public sealed record EtcdUser(string Name, string Password, string Prefix, bool Write);
