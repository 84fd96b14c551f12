using System.Net;
using System.Net.Sockets;
using Orleans.Configuration;

namespace Chat.Host.Hosting;

/// <summary>Options of this node's Orleans silo (<c>Chat:Silo</c>).</summary>
public sealed class SiloOptions
{
    public const string Section = "Chat:Silo";

    /// <summary>Port for silo-to-silo traffic; 0 picks a free loopback one at start (all-in-one has no other silo to meet).</summary>
    public int Port { get; set; }

    /// <summary>The address other silos reach this one at (a logic node of a cluster); loopback by default.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>The cluster's name: silos with the same one form a cluster.</summary>
    public string ClusterId { get; set; } = "chat";

    /// <summary>
    /// A logic node's membership: <c>adonet</c> (a table in the shared MariaDB database, which the
    /// store's migrations create; the default when <c>Chat:Store:Kind=mariadb</c>) or <c>localhost</c>
    /// (a single node, or several meeting at <see cref="PrimaryPort"/>; development only, the default otherwise).
    /// </summary>
    public string? Clustering { get; set; }

    /// <summary>With localhost clustering: the silo port of the node the others meet at (0: this one).</summary>
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
    public int MissedProbesLimit { get; set; } = 2;

    /// <summary>TLS between silos, with certificates from the cluster's own CA (<c>Chat:Silo:Tls</c>); off unless set.</summary>
    public SiloTlsOptions Tls { get; set; } = new();
}

public static class SiloExtensions
{
    /// <summary>
    /// The all-in-one silo: development (localhost) clustering of this one silo on a loopback
    /// port, and no gateway, since no Orleans client connects from outside.
    /// </summary>
    /// <returns>Whether the silo port was picked here (so a start that loses it to another process may pick again).</returns>
    public static bool AddChatSilo(this WebApplicationBuilder builder, ChatRole role)
    {
        var options = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        var picked = options.Port == 0;
        var port = picked ? FreeLoopbackPort() : options.Port;
        var advertised = IPAddress.Parse(options.AdvertisedAddress);
        builder.UseOrleans(silo =>
        {
            if (role == ChatRole.All)
            {
                silo.UseLocalhostClustering(siloPort: port, gatewayPort: 0, serviceId: "chat", clusterId: "chat-all-in-one");
            }
            else if (ClusteringOf(options, builder.Configuration) is { } database)
            {
                silo.UseAdoNetClustering(adoNet => (adoNet.Invariant, adoNet.ConnectionString) = ("MySql.Data.MySqlConnector", database));
                silo.Configure<ClusterOptions>(cluster => (cluster.ServiceId, cluster.ClusterId) = ("chat", options.ClusterId));
                silo.ConfigureEndpoints(advertised, port, gatewayPort: 0, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
            }
            else
            {
                var primary = options.PrimaryPort == 0 ? null : new IPEndPoint(advertised, options.PrimaryPort);
                silo.UseLocalhostClustering(siloPort: port, gatewayPort: 0, primarySiloEndpoint: primary, serviceId: "chat", clusterId: options.ClusterId);
            }

            // A logic node that dies takes its grains with it until the others declare it dead:
            // detect that in seconds (the chats it held are waiting), not Orleans' default quarter minute.
            silo.Configure<ClusterMembershipOptions>(membership =>
            {
                membership.ProbeTimeout = options.ProbeTimeout;
                membership.MaxProbeTimeout = options.MaxProbeTimeout;
                membership.TableRefreshTimeout = options.TableRefreshInterval;
                membership.NumMissedProbesLimit = options.MissedProbesLimit;
            });

            silo.Configure<EndpointOptions>(endpoints => endpoints.AdvertisedIPAddress = advertised);
            silo.UseChatTls(options.Tls);
        });

        // The chat's rules follow the injected clock (tests drive it by hand); Orleans' own loops
        // (messaging, membership, activation collection) stay on real time whatever that clock does.
        builder.Services.AddKeyedSingleton<TimeProvider>(KeyedService.AnyKey, TimeProvider.System);
        return picked;
    }

    /// <summary>The shared database for ADO.NET membership, or null for localhost clustering.</summary>
    private static string? ClusteringOf(SiloOptions options, IConfiguration configuration)
    {
        var database = Chat.Logic.LogicExtensions.SharedDatabase(configuration);
        return options.Clustering?.ToLowerInvariant() switch
        {
            null or "" => database,
            "localhost" => null,
            "adonet" => database ?? throw new InvalidOperationException("Chat:Silo:Clustering=adonet keeps membership in the shared MariaDB database: set Chat:Store:Kind=mariadb and its connection string."),
            var other => throw new InvalidOperationException($"Chat:Silo:Clustering must be adonet or localhost, not '{other}'."),
        };
    }

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
