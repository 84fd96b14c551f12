namespace Chat.Testing;

/// <summary>
/// The repository's deploy files the fixtures and the local cluster run, built into this assembly
/// (Chat.Testing.csproj) so that there is one copy of each: MariaDB's bootstrap and settings
/// (deploy/mariadb/), nginx's template (deploy/nginx/) and the script that makes the cluster's certificates.
/// </summary>
public static class DeployFiles
{
    /// <summary>deploy/mariadb/chat-database.sql: the chat's database, its user and that user's privileges.</summary>
    public static string DatabaseBootstrap => Read("chat-database.sql");

    /// <summary>deploy/mariadb/chat.cnf: mariadbd's settings for the chat.</summary>
    public static string MariaDbSettings => Read("chat.cnf");

    /// <summary>deploy/nginx/chat.conf.template: nginx in front of the brokers, with <c>${CHAT_…}</c> to fill in.</summary>
    public static string NginxTemplate => Read("chat.conf.template");

    /// <summary>deploy/cluster-certs.sh: the cluster's CA and certificates, made with openssl.</summary>
    public static string ClusterCertsScript => Read("cluster-certs.sh");

    private static string Read(string name)
    {
        using var stream = typeof(DeployFiles).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not built into {typeof(DeployFiles).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
