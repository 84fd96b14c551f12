namespace Chat.Testing.Cluster;

/// <summary>
/// Where a cluster on this machine keeps everything, under one folder (deploy/README.md's table):
/// <c>logs/</c> one log per part, <c>secrets/</c> (mode 700) the cluster's secret and the store's
/// connection string, <c>run/</c> the local cluster's PID files and ports, and a folder per part
/// for its data (<c>mariadb/</c>, <c>etcd/</c>, <c>nginx/</c>).
/// </summary>
public sealed record ClusterFolder(string Root)
{
    public string Logs => Path.Combine(Root, "logs");

    public string Secrets => Path.Combine(Root, "secrets");

    public string Run => Path.Combine(Root, "run");

    /// <summary>Without TLS: the cluster's shared secret, which every gRPC call between its nodes carries.</summary>
    public string SecretFile => Path.Combine(Secrets, "cluster-secret");

    /// <summary>The cluster's certificates (deploy/cluster-certs.sh): the CA and its key, each node's, etcd's, the admin's.</summary>
    public string Tls => Path.Combine(Secrets, "tls");

    /// <summary>The password of etcd's user <paramref name="user"/> (root, chat-logic, chat-broker).</summary>
    public string EtcdPasswordFile(string user) => Path.Combine(Secrets, $"etcd-{user}-password");

    /// <summary>The key every logic node signs and checks bot challenges with.</summary>
    public string ChallengeKeyFile => Path.Combine(Secrets, "altcha-key");

    /// <summary>The logic nodes' MariaDB connection string, password included.</summary>
    public string ConnectionFile => Path.Combine(Secrets, "store-connection");

    public string MariaDb => Path.Combine(Root, "mariadb");

    public string Etcd => Path.Combine(Root, "etcd");

    public string Nginx => Path.Combine(Root, "nginx");

    /// <summary>The log of <paramref name="part"/> (mariadb, etcd, logic1, broker2, nginx, ...).</summary>
    public string Log(string part) => Path.Combine(Logs, part + ".log");

    /// <summary>Makes the folders; <c>secrets/</c> readable by its owner only.</summary>
    public void Create()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("a cluster on this machine runs on Linux");
        }

        Directory.CreateDirectory(Logs);
        Directory.CreateDirectory(Run);
        Directory.CreateDirectory(Secrets);
        File.SetUnixFileMode(Secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Writes a secret readable by its owner only (created so, never briefly readable by others).</summary>
    public static void WriteSecret(string path, string value)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("a cluster on this machine runs on Linux");
        }

        var next = path + ".new";
        File.Delete(next);
        using (var file = new FileStream(next, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(value);
        }

        File.Move(next, path, overwrite: true);
    }
}
