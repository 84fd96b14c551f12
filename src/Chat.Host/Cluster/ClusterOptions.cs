using System.Net;
using Chat.Protocol.Settings;
using Microsoft.Extensions.Options;

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

    /// <summary>A logic node's entry in etcd lives this long unless kept alive (etcd counts whole seconds).</summary>
    public TimeSpan EtcdLease { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a logic node checks that its entry is still in etcd, and writes it again if etcd lost it.</summary>
    public TimeSpan EtcdCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a broker reads the whole list of logic nodes again (a watch that died with etcd says nothing).</summary>
    public TimeSpan EtcdReadInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A broker without etcd: the logic nodes' gRPC addresses (host:port, comma-separated).</summary>
    public string? LogicAddresses { get; set; }

    /// <summary>Proxies (IP addresses, comma-separated) whose X-Forwarded-For a broker believes; empty: none.</summary>
    public string? TrustedProxies { get; set; }

    /// <summary>Where HTTP/1.1 listens (<c>--urls</c>, <c>Urls</c> or <c>ASPNETCORE_URLS</c>, ';'-separated; the role's default otherwise): not a <c>Chat:Cluster</c> setting.</summary>
    public string HttpUrls { get; internal set; } = string.Empty;

    /// <summary>host:port other nodes reach this node's gRPC service at.</summary>
    public string AdvertisedAddress => AdvertisedGrpcAddress ?? AddressOf(GrpcUrl ?? throw new InvalidOperationException($"{Section}:GrpcUrl is not set."));

    public IReadOnlyList<string> EtcdUrls => List(Etcd);

    public IReadOnlyList<string> LogicAddressList => List(LogicAddresses);

    public IReadOnlyList<IPAddress> TrustedProxyAddresses => [.. List(TrustedProxies).Select(IPAddress.Parse)];

    /// <summary>
    /// Binds the section, or says which setting was written as a list (<c>…:0=</c>, or <c>__0</c> in the
    /// environment, as .NET lists usually are): every setting here is one value, and the lists are
    /// comma-separated (the binder alone would only say it cannot make a string).
    /// </summary>
    internal static void Bind(IConfiguration configuration, ClusterOptions options)
    {
        var section = configuration.GetSection(Section);
        if (section.GetChildren().FirstOrDefault(setting => setting.GetChildren().Any()) is { } list)
        {
            throw new InvalidOperationException(
                $"{Section}:{list.Key} is one value, not a list: write {Section}:{list.Key}=a,b (comma-separated) instead of {Section}:{list.Key}:0=a.");
        }

        section.Bind(options);
        if (configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } urls && !string.IsNullOrWhiteSpace(urls))
        {
            options.HttpUrls = urls;
        }
    }

    /// <summary>The secret, from <see cref="SecretFile"/> or <see cref="Secret"/> (validated at start).</summary>
    public string ReadSecret() => (!string.IsNullOrWhiteSpace(SecretFile) ? File.ReadAllText(SecretFile) : Secret ?? string.Empty).Trim();

    /// <summary>host:port of a URL, as other nodes dial it.</summary>
    public static string AddressOf(string url) => ListenUrl.Parse(url).Address;

    public static IReadOnlyList<string> List(string? commaSeparated) =>
        string.IsNullOrWhiteSpace(commaSeparated) ? [] : [.. commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}

/// <summary>
/// Every <c>Chat:Cluster</c> setting checked at start, addresses parsed here, so a typo is a one-line
/// refusal naming the setting instead of a stack trace from wherever the value is first used.
/// </summary>
internal sealed class ClusterOptionsValidation : IValidateOptions<ClusterOptions>
{
    private const string S = ClusterOptions.Section;

    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        var refusals = new List<string>();
        void Refuse(string refusal) => refusals.Add(refusal);

        if (!string.IsNullOrWhiteSpace(options.SecretFile))
        {
            try
            {
                if (string.IsNullOrWhiteSpace(File.ReadAllText(options.SecretFile)))
                {
                    Refuse($"{S}:SecretFile: '{options.SecretFile}' is empty; it must hold the cluster's shared secret.");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Refuse($"{S}:SecretFile: cannot read '{options.SecretFile}' ({ex.Message.TrimEnd('.')}).");
            }
        }
        else if (string.IsNullOrWhiteSpace(options.Secret))
        {
            Refuse("The broker and logic roles need the cluster's shared secret: set Chat__Cluster__Secret in the environment, or Chat:Cluster:SecretFile to a file that holds it.");
        }

        foreach (var url in options.HttpUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            CheckListenUrl("--urls", url, Refuse);
        }

        CheckListenUrl($"{S}:GrpcUrl", options.GrpcUrl, Refuse);
        if (options.AdvertisedGrpcAddress is { } advertised)
        {
            CheckHostAndPort($"{S}:AdvertisedGrpcAddress", advertised, Refuse);
        }
        else if (options.GrpcUrl is { } grpc && ListenUrl.Parse(grpc) is { Problem: null, Any: true })
        {
            Refuse($"{S}:AdvertisedGrpcAddress: {S}:GrpcUrl listens on every address ({grpc}), so say which one other nodes reach this node at (host:port).");
        }

        foreach (var etcd in options.EtcdUrls)
        {
            if (!Uri.TryCreate(etcd, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort && !etcd.Contains(":" + uri.Port, StringComparison.Ordinal))
            {
                Refuse($"{S}:Etcd: '{etcd}' is not an etcd client URL such as http://127.0.0.1:2379.");
            }
        }

        if (string.IsNullOrWhiteSpace(options.EtcdPrefix))
        {
            Refuse($"{S}:EtcdPrefix must not be empty.");
        }

        foreach (var logic in options.LogicAddressList)
        {
            CheckHostAndPort($"{S}:LogicAddresses", logic, Refuse);
        }

        foreach (var proxy in ClusterOptions.List(options.TrustedProxies))
        {
            if (!IPAddress.TryParse(proxy, out _))
            {
                Refuse($"{S}:TrustedProxies: '{proxy}' is not an IP address (a proxy is believed by its address, e.g. 127.0.0.1).");
            }
        }

        if (options.EtcdLease < TimeSpan.FromSeconds(1) || options.EtcdLease > Durations.Longest)
        {
            Refuse($"{S}:EtcdLease must be at least a second and at most a day, not {options.EtcdLease}.");
        }

        refusals.AddRange(Durations.MustBePositive(S, (nameof(options.EtcdCheckInterval), options.EtcdCheckInterval), (nameof(options.EtcdReadInterval), options.EtcdReadInterval))
            .Select(refusal => refusal.ErrorMessage!));
        return refusals.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(refusals);
    }

    private static void CheckListenUrl(string setting, string? url, Action<string> refuse)
    {
        if (url is not null && ListenUrl.Parse(url).Problem is { } problem)
        {
            refuse($"{setting}: '{url}' {problem}.");
        }
    }

    /// <summary>host:port as another node dials it.</summary>
    private static void CheckHostAndPort(string setting, string address, Action<string> refuse)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out var port) || port is < 1 or > 65535
            || Uri.CheckHostName(address[..colon].Trim('[', ']')) == UriHostNameType.Unknown)
        {
            refuse($"{setting}: '{address}' is not host:port (such as 10.0.0.5:18223).");
        }
    }

}
