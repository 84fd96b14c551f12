namespace Chat.Host.Cluster;

/// <summary>What the nodes of a cluster share (<c>Chat:Cluster</c>), and where each answers.</summary>
public sealed class ClusterOptions
{
    public const string Section = "Chat:Cluster";

    /// <summary>The secret every gRPC call between our nodes carries; required by the broker and logic roles.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the secret instead (so it is not on a command line, where <c>ps</c> shows it).</summary>
    public string? SecretFile { get; set; }

    /// <summary>Where this node's gRPC service listens (h2c): the Broker service on a broker, LogicDealer on a logic node.</summary>
    public string? GrpcUrl { get; set; }

    /// <summary>The address other nodes reach this node's gRPC service at (host:port); by default the host and port of <see cref="GrpcUrl"/>.</summary>
    public string? AdvertisedGrpcAddress { get; set; }

    /// <summary>etcd's client URLs (comma-separated); empty: no etcd.</summary>
    public string? Etcd { get; set; }

    /// <summary>Where logic nodes register, under a key of their own each (the seed's <c>services/logic/</c>).</summary>
    public string EtcdPrefix { get; set; } = "services/logic/";

    /// <summary>A broker without etcd: the logic nodes' gRPC addresses (host:port, comma-separated).</summary>
    public string? LogicAddresses { get; set; }

    /// <summary>Proxies (IP addresses, comma-separated) whose X-Forwarded-For a broker believes; empty: none.</summary>
    public string? TrustedProxies { get; set; }

    /// <summary>
    /// The section bound, or a message naming the setting that was written as a list (<c>…:0=</c>, or
    /// <c>__0</c> in the environment, as .NET lists usually are): every setting here is one value, and
    /// the lists are comma-separated (the binder alone would only say it cannot make a string).
    /// </summary>
    public static ClusterOptions Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        if (section.GetChildren().FirstOrDefault(setting => setting.GetChildren().Any()) is { } list)
        {
            throw new InvalidOperationException(
                $"{Section}:{list.Key} is one value, not a list: write {Section}:{list.Key}=a,b (comma-separated) instead of {Section}:{list.Key}:0=a.");
        }

        return section.Get<ClusterOptions>() ?? new ClusterOptions();
    }

    public string ReadSecret()
    {
        var secret = !string.IsNullOrWhiteSpace(SecretFile) ? File.ReadAllText(SecretFile) : Secret;
        if (string.IsNullOrWhiteSpace(secret))
        {
            throw new InvalidOperationException(
                "The broker and logic roles need the cluster's shared secret: set Chat__Cluster__Secret in the environment, or Chat:Cluster:SecretFile to a file that holds it.");
        }

        return secret.Trim();
    }

    public static IReadOnlyList<string> List(string? commaSeparated) =>
        string.IsNullOrWhiteSpace(commaSeparated) ? [] : [.. commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
