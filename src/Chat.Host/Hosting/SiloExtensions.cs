using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Sockets;
using Chat.Protocol.Settings;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Chat.Host.Hosting;

/// <summary>Options of this node's Orleans silo (<c>Chat:Silo</c>).</summary>
public sealed class SiloOptions : IValidatableObject
{
    public const string Section = "Chat:Silo";

    /// <summary>Port for silo-to-silo traffic; 0 picks a free loopback one at start (all-in-one has no other silo to meet).</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>The address other silos reach this one at (a logic node of a cluster); loopback by default.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The IP address the silo port listens on; by default <see cref="AdvertisedAddress"/> (only that
    /// interface). Set it (e.g. to 0.0.0.0) where the advertised address is not this machine's own, behind NAT.
    /// </summary>
    public string? ListenAddress { get; set; }

    /// <summary>Only this machine can reach the silo port.</summary>
    public bool ListensOnLoopback => IPAddress.TryParse(ListenAddress ?? AdvertisedAddress, out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>The cluster's name: silos with the same one form a cluster.</summary>
    public string ClusterId { get; set; } = "chat";

    /// <summary>
    /// A logic node's membership: <c>adonet</c> (a table in the shared MariaDB database, which the
    /// store's migrations create; the default when <c>Chat:Store:Kind=mariadb</c>) or <c>localhost</c>
    /// (a single node, or several meeting at <see cref="PrimaryPort"/>; development only, the default otherwise).
    /// </summary>
    public string? Clustering { get; set; }

    /// <summary>With localhost clustering: the silo port of the node the others meet at (0: this one).</summary>
    [Range(0, 65535)]
    public int PrimaryPort { get; set; }

    /// <summary>How often a silo probes another for liveness, and how long it first waits for the answer (Orleans' default: 5 s).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The longest wait for a probe's answer: Orleans lengthens the wait for a silo that answers slowly,
    /// up to this (its default: four times <see cref="ProbeTimeout"/>), so it also bounds how long a hung silo is waited for.
    /// </summary>
    public TimeSpan MaxProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How often a silo reads the membership table (Orleans' default: 60 s). A silo that hung and
    /// was declared dead meanwhile learns it from there at the latest, and stops; until then it
    /// still answers the brokers that call it, so this bounds how long it can act on chats now held elsewhere.
    /// </summary>
    public TimeSpan TableRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Probes missed in a row before a silo suspects another (Orleans' default: 3).</summary>
    [Range(1, 100)]
    public int MissedProbesLimit { get; set; } = 2;

    /// <summary>
    /// Grain addresses a silo remembers (Orleans' directory cache; the least recently used go first).
    /// Every account and session ever activated leaves one, also those a client named at random, so
    /// this bounds what they can cost. Orleans' own default, 1,000,000, reserves some 9 MB at start and
    /// grows to some 250 MB once full (about 250 bytes an entry).
    /// </summary>
    [Range(100, 10_000_000)]
    public int DirectoryCacheSize { get; set; } = 100_000;

    /// <summary>TLS between silos, with certificates from the cluster's own CA (<c>Chat:Silo:Tls</c>); off unless set.</summary>
    public SiloTlsOptions Tls { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPAddress.TryParse(AdvertisedAddress, out _))
        {
            yield return new ValidationResult($"{Section}:{nameof(AdvertisedAddress)}: '{AdvertisedAddress}' is not an IP address (other silos dial the address in the membership table, so it must be one).", [nameof(AdvertisedAddress)]);
        }

        if (ListenAddress is { } listen && !IPAddress.TryParse(listen, out _))
        {
            yield return new ValidationResult($"{Section}:{nameof(ListenAddress)}: '{listen}' is not an IP address.", [nameof(ListenAddress)]);
        }

        if (Clustering is { Length: > 0 } clustering && !clustering.Equals("adonet", StringComparison.OrdinalIgnoreCase) && !clustering.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            yield return new ValidationResult($"{Section}:{nameof(Clustering)} must be adonet or localhost, not '{clustering}'.", [nameof(Clustering)]);
        }

        foreach (var refusal in Durations.MustBePositive(
            Section,
            (nameof(ProbeTimeout), ProbeTimeout),
            (nameof(MaxProbeTimeout), MaxProbeTimeout),
            (nameof(TableRefreshInterval), TableRefreshInterval)))
        {
            yield return refusal;
        }
    }
}

/// <summary>The silo port this start uses, and whether it was picked here (so a start that loses it to another process may pick again).</summary>
public sealed record SiloPort(int Port, bool Picked);

public static class SiloExtensions
{
    /// <summary>
    /// This node's Orleans silo, configured from <see cref="SiloOptions"/> once they are validated. All-in-one:
    /// development (localhost) clustering of this one silo on a loopback port. A logic node: membership in the
    /// shared MariaDB database (or localhost clustering for development). No gateway: no Orleans client connects from outside.
    /// </summary>
    public static WebApplicationBuilder AddChatSilo(this WebApplicationBuilder builder, ChatRole role)
    {
        builder.Services.AddOptions<SiloOptions>().BindConfiguration(SiloOptions.Section).ValidateDataAnnotations()
            .Validate<IConfiguration>((options, configuration) => !WantsAdoNet(options.Clustering) || Chat.Logic.LogicExtensions.HasSharedDatabase(configuration),
                "Chat:Silo:Clustering=adonet keeps membership in the shared MariaDB database: set Chat:Store:Kind=mariadb and its connection string.")
            .Validate<IConfiguration>((options, configuration) => options.Tls.Wanted || options.ListensOnLoopback || configuration.GetValue<bool>($"{Cluster.ClusterOptions.Section}:{nameof(Cluster.ClusterOptions.Insecure)}"),
                "Chat:Silo:AdvertisedAddress: the silo port listens beyond loopback, where plain Orleans lets anyone who reaches it join the cluster: give the logic nodes certificates (Chat:Silo:Tls:*, deploy/README.md), or start with --insecure to accept that.")
            .ValidateOnStart();

        // What shapes the silo is read here (which clustering, which port); the values it is given come from the validated options.
        var configured = builder.Configuration.GetValue<int>($"{SiloOptions.Section}:{nameof(SiloOptions.Port)}");
        var port = new SiloPort(configured == 0 ? FreeLoopbackPort() : configured, Picked: configured == 0);
        builder.Services.AddSingleton(port);
        var clustering = builder.Configuration[$"{SiloOptions.Section}:{nameof(SiloOptions.Clustering)}"];
        var tls = builder.Configuration.GetSection(SiloTlsOptions.Section).Get<SiloTlsOptions>() ?? new SiloTlsOptions();
        builder.UseOrleans(silo =>
        {
            if (role == ChatRole.All)
            {
                silo.UseLocalhostClustering(siloPort: port.Port, gatewayPort: 0, serviceId: "chat", clusterId: "chat-all-in-one");
            }
            else if (WantsAdoNet(clustering) || (string.IsNullOrEmpty(clustering) && Chat.Logic.LogicExtensions.HasSharedDatabase(builder.Configuration)))
            {
                silo.UseAdoNetClustering(adoNet => adoNet.Configure<IConfiguration>((o, configuration) =>
                    (o.Invariant, o.ConnectionString) = ("MySql.Data.MySqlConnector", Chat.Logic.LogicExtensions.SharedDatabase(configuration))));
                silo.Services.AddOptions<ClusterOptions>().Configure<IOptions<SiloOptions>>((cluster, options) =>
                    (cluster.ServiceId, cluster.ClusterId) = ("chat", options.Value.ClusterId));
                silo.Services.AddOptions<EndpointOptions>().Configure<IOptions<SiloOptions>>((endpoints, options) =>
                    (endpoints.SiloPort, endpoints.GatewayPort) = (port.Port, 0));
            }
            else
            {
                silo.UseLocalhostClustering(siloPort: port.Port, gatewayPort: 0, serviceId: "chat", clusterId: "chat");
                silo.Services.AddOptions<ClusterOptions>().PostConfigure<IOptions<SiloOptions>>((cluster, options) => cluster.ClusterId = options.Value.ClusterId);
                silo.Services.AddOptions<DevelopmentClusterMembershipOptions>().PostConfigure<IOptions<SiloOptions>>((membership, options) =>
                {
                    if (options.Value.PrimaryPort != 0)
                    {
                        membership.PrimarySiloEndpoint = new IPEndPoint(IPAddress.Parse(options.Value.AdvertisedAddress), options.Value.PrimaryPort);
                    }
                });
            }

            // A logic node that dies takes its grains with it until the others declare it dead:
            // detect that in seconds (the chats it held are waiting), not Orleans' default quarter minute.
            silo.Services.AddOptions<ClusterMembershipOptions>().Configure<IOptions<SiloOptions>>((membership, options) =>
            {
                membership.ProbeTimeout = options.Value.ProbeTimeout;
                membership.MaxProbeTimeout = options.Value.MaxProbeTimeout;
                membership.TableRefreshTimeout = options.Value.TableRefreshInterval;
                membership.NumMissedProbesLimit = options.Value.MissedProbesLimit;
            });

            silo.Services.AddOptions<GrainDirectoryOptions>().Configure<IOptions<SiloOptions>>((directory, options) =>
                directory.CacheSize = options.Value.DirectoryCacheSize);

            // Listens on the advertised address only (every interface only where ListenAddress says so).
            silo.Services.AddOptions<EndpointOptions>().PostConfigure<IOptions<SiloOptions>>((endpoints, options) =>
            {
                endpoints.AdvertisedIPAddress = IPAddress.Parse(options.Value.AdvertisedAddress);
                endpoints.SiloListeningEndpoint = new IPEndPoint(IPAddress.Parse(options.Value.ListenAddress ?? options.Value.AdvertisedAddress), endpoints.SiloPort);
            });
            silo.UseChatTls(tls);
            if (builder.Configuration.WantsTracing())
            {
                silo.AddActivityPropagation(); // grain calls carry the caller's trace; off, no call filter runs at all
            }
        });

        // The chat's rules follow the injected clock (tests drive it by hand); Orleans' own loops
        // (messaging, membership, activation collection) stay on real time whatever that clock does.
        builder.Services.AddKeyedSingleton<TimeProvider>(KeyedService.AnyKey, TimeProvider.System);
        return builder;
    }

    private static bool WantsAdoNet(string? clustering) => string.Equals(clustering, "adonet", StringComparison.OrdinalIgnoreCase);

    /// <summary>A port that was free a moment ago (Orleans refuses port 0).</summary>
    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The start failed because a port was taken meanwhile.</summary>
    public static bool IsPortTaken(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(IsPortTaken))
            {
                return true;
            }
        }

        return false;
    }
}
