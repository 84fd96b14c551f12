using System.Net;
using System.Text;
using Chat.Protocol.Grpc;
using Chat.Protocol.Settings;
using Microsoft.Extensions.Options;

namespace Chat.Host.Cluster;

/// <summary>What the nodes of a cluster share (<c>Chat:Cluster</c>), and where each answers.</summary>
public sealed class ClusterOptions
{
    public const string Section = "Chat:Cluster";

    /// <summary>The shortest secret taken, in bytes (UTF-8): <c>openssl rand -hex 32</c> makes 64.</summary>
    public const int MinSecretBytes = 32;

    /// <summary>Without TLS: the secret every gRPC call between our nodes carries (at least <see cref="MinSecretBytes"/> bytes). Not used with TLS.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the secret instead (so it is not on a command line, where <c>ps</c> shows it).</summary>
    public string? SecretFile { get; set; }

    /// <summary>
    /// gRPC between brokers and logic nodes over TLS with mutual authentication from the cluster's CA; each
    /// node's certificate names its role and address (docs/cluster.md, "Security model"). Unset: plaintext
    /// h2c with the secret, which only a node whose gRPC and silo ports are on loopback may use (or with <see cref="Insecure"/>).
    /// </summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Plaintext between nodes (gRPC without <see cref="Tls"/>, a silo without <c>Chat:Silo:Tls</c>) on a
    /// port beyond loopback, said explicitly (<c>--insecure</c>): anyone on that network can then read the
    /// secret and act as any node.
    /// </summary>
    public bool Insecure { get; set; }

    /// <summary>Where this node's gRPC service listens (http:// for h2c, https:// with <see cref="Tls"/>): the Broker service on a broker, LogicDealer on a logic node.</summary>
    public string? GrpcUrl { get; set; }

    /// <summary>The address other nodes reach this node's gRPC service at (host:port); by default the host and port of <see cref="GrpcUrl"/>.</summary>
    public string? AdvertisedGrpcAddress { get; set; }

    /// <summary>etcd's client URLs (comma-separated, all http:// or all https://); empty: no etcd.</summary>
    public string? Etcd { get; set; }

    /// <summary>etcd's user, with etcd's authentication on (<c>etcdctl auth enable</c>); unset: none.</summary>
    public string? EtcdUser { get; set; }

    /// <summary>A file that holds <see cref="EtcdUser"/>'s password.</summary>
    public string? EtcdPasswordFile { get; set; }

    /// <summary>https:// etcd: the CA its server certificate chains to (PEM); by default the cluster's (<c>Chat:Cluster:Tls:CaPath</c>). With TLS the node shows its own certificate to etcd (<c>--client-cert-auth</c>).</summary>
    public string? EtcdCaPath { get; set; }

    /// <summary>Where logic nodes register, under a key of their own each (the seed's <c>services/logic/</c>).</summary>
    public string EtcdPrefix { get; set; } = "services/logic/";

    /// <summary>A logic node's entry in etcd lives this long unless kept alive (etcd counts whole seconds).</summary>
    public TimeSpan EtcdLease { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a logic node checks that its entry is still in etcd, and writes it again if etcd lost it.</summary>
    public TimeSpan EtcdCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a broker reads the whole list of logic nodes again (a watch that died with etcd says nothing).</summary>
    public TimeSpan EtcdReadInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a node waits for a TCP connection (and its TLS handshake) to another node before it gives the attempt up; the next call tries anew.</summary>
    public TimeSpan LinkConnectTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A connection to another node is pinged (HTTP/2 PING) after this long without a frame from it, busy or idle.</summary>
    public TimeSpan LinkPingAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A ping not answered within this long closes the connection; calls after it open a new one.</summary>
    public TimeSpan LinkPingTimeout { get; set; } = TimeSpan.FromSeconds(5);

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
        if (section.GetChildren().FirstOrDefault(setting => setting.Key != nameof(Tls) && setting.GetChildren().Any()) is { } list)
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

    /// <summary>etcd's password, from <see cref="EtcdPasswordFile"/> (validated at start).</summary>
    public string ReadEtcdPassword() => File.ReadAllText(EtcdPasswordFile!).TrimEnd('\r', '\n');

    /// <summary>The CA an https:// etcd's certificate chains to: <see cref="EtcdCaPath"/>, or the cluster's.</summary>
    public string? EtcdCa => string.IsNullOrWhiteSpace(EtcdCaPath) ? Tls.CaPath : EtcdCaPath;

    /// <summary>host:port of a URL (http:// or https://), as other nodes dial it.</summary>
    public static string AddressOf(string url) => ListenUrl.Parse(url, url.StartsWith("https:", StringComparison.OrdinalIgnoreCase)).Address;

    public static IReadOnlyList<string> List(string? commaSeparated) =>
        string.IsNullOrWhiteSpace(commaSeparated) ? [] : [.. commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}

/// <summary>
/// Every <c>Chat:Cluster</c> setting checked at start, addresses parsed here, so a typo is a one-line
/// refusal naming the setting instead of a stack trace from wherever the value is first used.
/// </summary>
internal sealed class ClusterOptionsValidation(ClusterTransport transport) : IValidateOptions<ClusterOptions>
{
    private const string S = ClusterOptions.Section;

    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        var refusals = new List<string>();
        void Refuse(string refusal) => refusals.Add(refusal);

        CheckSecret(options, Refuse);
        foreach (var url in options.HttpUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            CheckListenUrl("--urls", url, Refuse);
        }

        CheckListenUrl($"{S}:GrpcUrl", options.GrpcUrl, Refuse, tls: transport.Tls is not null);
        CheckTransport(options, Refuse);
        CheckEtcdAccess(options, Refuse);
        if (options.AdvertisedGrpcAddress is { } advertised)
        {
            CheckHostAndPort($"{S}:AdvertisedGrpcAddress", advertised, Refuse);
        }
        else if (options.GrpcUrl is { } grpc && ListenUrl.Parse(grpc, transport.Tls is not null) is { Problem: null, Any: true })
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
            .Concat(Durations.MustBeTimeouts(S, (nameof(options.LinkConnectTimeout), options.LinkConnectTimeout), (nameof(options.LinkPingAfter), options.LinkPingAfter), (nameof(options.LinkPingTimeout), options.LinkPingTimeout)))
            .Select(refusal => refusal.ErrorMessage!));
        return refusals.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(refusals);
    }

    private static void CheckListenUrl(string setting, string? url, Action<string> refuse, bool tls = false)
    {
        if (url is not null && ListenUrl.Parse(url, tls).Problem is { } problem)
        {
            refuse($"{setting}: '{url}' {problem}.");
        }
    }

    /// <summary>
    /// The secret is what plain h2c has for a credential, so it must be one nobody guesses; with TLS it is not
    /// needed (the certificates say who calls), but one that is given must still be long enough.
    /// </summary>
    private void CheckSecret(ClusterOptions options, Action<string> refuse)
    {
        string secret;
        if (!string.IsNullOrWhiteSpace(options.SecretFile))
        {
            try
            {
                secret = File.ReadAllText(options.SecretFile).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                refuse($"{S}:SecretFile: cannot read '{options.SecretFile}' ({ex.Message.TrimEnd('.')}).");
                return;
            }

            if (secret.Length == 0)
            {
                refuse($"{S}:SecretFile: '{options.SecretFile}' is empty; it must hold the cluster's shared secret.");
                return;
            }
        }
        else if (!string.IsNullOrWhiteSpace(options.Secret))
        {
            secret = options.Secret.Trim();
        }
        else
        {
            if (transport.Tls is null)
            {
                refuse("The broker and logic roles need the cluster's shared secret without TLS: set Chat__Cluster__Secret in the environment, or Chat:Cluster:SecretFile to a file that holds it (or give the nodes certificates, Chat:Cluster:Tls).");
            }

            return;
        }

        if (Encoding.UTF8.GetByteCount(secret) is var bytes and < ClusterOptions.MinSecretBytes)
        {
            var setting = string.IsNullOrWhiteSpace(options.SecretFile) ? "Secret" : "SecretFile";
            refuse($"{S}:{setting}: the cluster's secret is {bytes} bytes; it must be at least {ClusterOptions.MinSecretBytes} (make one with openssl rand -hex 32).");
        }
    }

    /// <summary>
    /// Plain h2c only on loopback unless told --insecure; with TLS, this node's certificate must name it:
    /// its role, and (a broker, whose address is its identity) the address it advertises.
    /// </summary>
    private void CheckTransport(ClusterOptions options, Action<string> refuse)
    {
        if (transport.Tls is not { } tls)
        {
            if (!options.Insecure && options.GrpcUrl is { } grpc && ListenUrl.Parse(grpc) is { Problem: null, IsLoopback: false })
            {
                refuse($"{S}:GrpcUrl: '{grpc}' listens beyond loopback, where plaintext gRPC and its shared secret are open to anyone on the network: give the nodes certificates ({S}:Tls:*, deploy/README.md), or start with --insecure to accept that.");
            }

            return;
        }

        var names = tls.Names;
        if (names.Role != transport.Role)
        {
            refuse($"{S}:Tls:CertificatePath: the certificate {tls.Certificate.Subject} {(names.Role is { } role ? $"is a {Word(role)}'s" : "names no role")}; this node is a {Word(transport.Role)} ({NodeCertificates.RolePrefix}{transport.Role.ToString().ToLowerInvariant()}).");
        }

        if (options.GrpcUrl is null)
        {
            return;
        }

        var advertised = options.AdvertisedGrpcAddress ?? (ListenUrl.Parse(options.GrpcUrl, tls: true) is { Problem: null, Any: false } url ? url.Address : null);
        if (advertised is not null && (names.Address ?? (transport.Role == NodeRole.Broker ? "(none)" : advertised)) != advertised)
        {
            refuse($"{S}:Tls:CertificatePath: the certificate {tls.Certificate.Subject} names the address {names.Address ?? "(none)"}, but this node is reached at {advertised}; {(transport.Role == NodeRole.Broker ? "a broker is known by its address, so its certificate must name it" : "a certificate that names an address must name this node's")} ({NodeCertificates.AddressPrefix}{advertised}).");
        }
    }

    private static string Word(NodeRole role) => role == NodeRole.Logic ? "logic node" : "broker";

    /// <summary>etcd: all http:// or all https://; https:// needs a CA to check etcd by; a user needs a password file and the other way round.</summary>
    private static void CheckEtcdAccess(ClusterOptions options, Action<string> refuse)
    {
        var schemes = options.EtcdUrls.Select(url => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Scheme : null).OfType<string>().Distinct().ToList();
        if (schemes.Count > 1)
        {
            refuse($"{S}:Etcd: all of etcd's URLs are http:// or all are https://, not both.");
        }

        if (schemes is ["https"])
        {
            if (string.IsNullOrWhiteSpace(options.EtcdCa))
            {
                refuse($"{S}:EtcdCaPath: etcd is https://, so name the CA its certificate chains to (or {S}:Tls:CaPath, if the cluster's CA signed it).");
            }
            else if (!File.Exists(options.EtcdCa))
            {
                refuse($"{S}:EtcdCaPath: no file at '{Path.GetFullPath(options.EtcdCa)}'.");
            }
        }

        if (string.IsNullOrWhiteSpace(options.EtcdUser) != string.IsNullOrWhiteSpace(options.EtcdPasswordFile))
        {
            refuse($"{S}:EtcdUser and {S}:EtcdPasswordFile go together: etcd's user and the file that holds its password.");
        }
        else if (!string.IsNullOrWhiteSpace(options.EtcdPasswordFile))
        {
            try
            {
                if (options.ReadEtcdPassword().Length == 0)
                {
                    refuse($"{S}:EtcdPasswordFile: '{options.EtcdPasswordFile}' is empty.");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                refuse($"{S}:EtcdPasswordFile: cannot read '{options.EtcdPasswordFile}' ({ex.Message.TrimEnd('.')}).");
            }
        }
    }

    /// <summary>host:port as another node dials it.</summary>
    private static void CheckHostAndPort(string setting, string address, Action<string> refuse)
    {
        if (NodeAddress.Problem(address) is { } problem)
        {
            refuse($"{setting}: '{address}' {problem}.");
        }
    }

}
