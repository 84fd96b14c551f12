using Chat.Logic.Abuse;
using Chat.Logic.Diagnostics;
using Chat.Logic.Filtering;
using Chat.Logic.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Chat.Logic.Housekeeping;
using Chat.Logic.Ids;
using Chat.Logic.Matching;
using Chat.Logic.Moderation;
using Chat.Logic.Storage;
using Chat.Logic.Storage.MariaDb;
using Chat.Logic.Storage.Memory;
using Chat.Logic.Storage.Sqlite;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace Chat.Logic;

public static class LogicExtensions
{
    /// <summary>Logic's meter, for the metrics exporter.</summary>
    public const string MeterName = LogicMetrics.MeterName;

    /// <summary>Logic's activity source, for the trace exporter.</summary>
    public const string ActivitySourceName = LogicTracing.SourceName;

    /// <summary>
    /// Reads the live counts (online, waiting, sessions) the gauges report, if the last read is stale. When the store
    /// cannot be read (down, or this node cut off from it) the gauges keep the last counts: the scrape still answers,
    /// with the figures that matter most then (the store's refusals, its breaker), rather than failing whole.
    /// </summary>
    public static async Task ReadLiveCountsAsync(this IServiceProvider services, CancellationToken cancellationToken)
    {
        if (services.GetService<LiveCounts>() is { } counts) // a broker of a cluster has no store to count from
        {
            try
            {
                await counts.ReadAsync(cancellationToken);
            }
            catch (StoreUnavailableException)
            {
                // the last counts stand; the store's own failures are logged and counted where they happen
            }
        }
    }

    /// <summary>
    /// Logic on this node: the store <c>Chat:Store:Kind</c> names, its writer, the id blocks, the
    /// housekeeping timer and <see cref="ILogic"/> answered by grains. The node must host an Orleans
    /// silo (the grains of this assembly are found by Orleans itself).
    /// </summary>
    public static IServiceCollection AddChatLogic(this IServiceCollection services)
    {
        services.AddOptions<LogicOptions>().BindConfiguration(LogicOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MatchingOptions>().BindConfiguration(MatchingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Kind is "sqlite" or "mariadb" or "memory", "Chat:Store:Kind must be sqlite, mariadb or memory")
            .Validate(o => o.IndexDelay > TimeSpan.Zero, "Chat:Store:IndexDelay must be positive")
            .Validate(o => o.Retention >= TimeSpan.Zero, "Chat:Store:Retention must be zero (keep everything) or positive")
            .Validate(o => o.RetentionSweepInterval > TimeSpan.Zero, "Chat:Store:RetentionSweepInterval must be positive")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Chat:Store:QueueTimeout must be positive")
            .Validate(o => o.Kind != "mariadb" || HasValidConnectionString(o), "Chat:Store:Kind=mariadb needs a valid Chat:Store:ConnectionString (or Chat:Store:ConnectionStringFile naming a readable file)")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddChatLimits();
        services.AddMessageFilters();
        services.AddStoreResilience();

        // A store failure in a grain on one silo reaches a caller on another: our exceptions carry their
        // own serializers; the driver's, kept inside some of them, go by Orleans' exception codec.
        services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("MySqlConnector"));
        services.TryAddSingleton<IChatStore>(sp => sp.GetRequiredService<IOptions<StoreOptions>>().Value.Kind switch
        {
            "memory" => ActivatorUtilities.CreateInstance<MemoryChatStore>(sp),
            "mariadb" => ActivatorUtilities.CreateInstance<MariaDbChatStore>(sp),
            _ => ActivatorUtilities.CreateInstance<SqliteChatStore>(sp),
        });
        services.AddChatModeration();
        services.TryAddSingleton<LogicMetrics>();
        services.TryAddSingleton<LogicTracing>();
        services.TryAddSingleton(new LogicNodeAddress(null));
        services.TryAddSingleton<LiveCounts>();
        services.TryAddSingleton<StoreWriter>();
        services.TryAddSingleton<IdAllocator>();
        services.TryAddSingleton<ChatGrains>();
        services.TryAddSingleton<IMatchAvoidance, MatchAvoidance>();
        services.TryAddSingleton<IBrokerProbe, LocalBrokerProbe>();
        services.TryAddSingleton<GrainLogic>();
        services.TryAddSingleton<ILogic>(sp => sp.GetRequiredService<GrainLogic>());

        // Order matters: the store opens before the writer runs; stop runs in reverse, so the
        // writer drains after everything that writes has stopped.
        services.AddHostedService<StoreStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreWriter>());
        services.AddHostedService<HistorySweeper>();
        services.AddHostedService<LogicSweeper>();
        services.AddHostedService<MatchSweeper>();
        services.AddHostedService<AddressSweeper>();
        services.AddHostedService<GaugeStartup>();
        return services;
    }

    /// <summary>
    /// The per-address and per-account limits and the bot challenge (<c>Chat:Limits</c>). The
    /// challenge key is read (or made) at start, so a key file that cannot be written stops the start.
    /// </summary>
    private static IServiceCollection AddChatLimits(this IServiceCollection services)
    {
        services.AddOptions<LimitOptions>().BindConfiguration(LimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<AddressRules>();
        services.TryAddSingleton<AltchaKey>();
        services.TryAddSingleton<Altcha>();
        services.TryAddSingleton<Admissions>();
        services.AddHostedService<ChallengeKeyStartup>();
        return services;
    }

    /// <summary>
    /// Reports, bans and the audit log (<c>Chat:Moderation</c>), kept by the chat's own store (a store
    /// that keeps none, such as a test's wrapper, gets a memory one of its own).
    /// </summary>
    private static IServiceCollection AddChatModeration(this IServiceCollection services)
    {
        services.AddOptions<ModerationOptions>().BindConfiguration(ModerationOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<IModerationStore>(sp => sp.GetRequiredService<IChatStore>() as IModerationStore ?? new MemoryChatStore());
        services.TryAddSingleton<AddressHashes>();
        services.TryAddSingleton<ModerationWebhook>();
        services.TryAddSingleton<ModerationDesk>();
        services.AddHostedService(sp => sp.GetRequiredService<ModerationWebhook>());
        services.AddHostedService<RefusalTally>();
        return services;
    }

    /// <summary>
    /// The message filter (<c>Chat:Filter</c>): the links rule, the word list and the webhook as
    /// configured, then any other <see cref="IMessageFilter"/> registered, in one <see cref="MessageFilters"/>
    /// the session grains ask. Made at start, so the word list's file is read and watched from then on.
    /// </summary>
    private static IServiceCollection AddMessageFilters(this IServiceCollection services)
    {
        services.AddOptions<FilterOptions>().BindConfiguration(FilterOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(WebhookFilter.ClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan); // the filter's own deadline, on the injected clock
        services.AddResiliencePipeline<string, ClassifierAsk>(WebhookFilter.BreakerName, static (builder, context) =>
        {
            builder.TimeProvider = context.ServiceProvider.GetRequiredService<TimeProvider>();
            WebhookFilter.ConfigureBreaker(
                builder,
                context.ServiceProvider.GetRequiredService<IOptions<FilterOptions>>().Value.Webhook,
                context.ServiceProvider.GetRequiredService<ILogger<WebhookFilter>>());
        });
        services.TryAddSingleton<WordListFilter>();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<FilterOptions>>().Value;
            var filters = new List<IMessageFilter>();
            if (options.Links.FirstMessages > 0)
            {
                filters.Add(ActivatorUtilities.CreateInstance<ContactLinkRule>(sp));
            }

            if (!string.IsNullOrEmpty(options.Words.File))
            {
                filters.Add(sp.GetRequiredService<WordListFilter>());
            }

            filters.AddRange(sp.GetServices<IMessageFilter>());
            if (!string.IsNullOrEmpty(options.Webhook.Url))
            {
                filters.Add(ActivatorUtilities.CreateInstance<WebhookFilter>(sp));
            }

            return new MessageFilters(filters, sp.GetRequiredService<LogicMetrics>());
        });
        services.AddHostedService<FilterStartup>();
        return services;
    }

    /// <summary>
    /// A logic node of a cluster: every node must sign challenges with the same key, so that each
    /// checks what any made. Without TLS it is derived from the cluster's shared secret unless one is
    /// configured; with TLS there is no shared secret (<paramref name="clusterSecret"/> gives null),
    /// so a node with the challenge on refuses to start without <c>Chat:Limits:Challenge:Key</c> or
    /// <c>KeyFile</c> (a key of its own would refuse every other node's challenges).
    /// </summary>
    public static IServiceCollection AddChallengeKeyFrom(this IServiceCollection services, Func<IServiceProvider, string?> clusterSecret)
    {
        services.AddSingleton<IPostConfigureOptions<LimitOptions>>(sp => new PostConfigureOptions<LimitOptions>(Options.DefaultName, limits =>
        {
            if (string.IsNullOrEmpty(limits.Challenge.Key) && string.IsNullOrEmpty(limits.Challenge.KeyFile) && clusterSecret(sp) is { Length: > 0 } secret)
            {
                var derived = System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret), "chat: ALTCHA challenge key"u8);
                limits.Challenge.Key = Convert.ToHexStringLower(derived);
            }
        }));
        services.AddOptions<LimitOptions>().Validate(
            limits => !limits.Challenge.IsOn || !string.IsNullOrEmpty(limits.Challenge.Key) || !string.IsNullOrEmpty(limits.Challenge.KeyFile),
            $"{LimitOptions.Section}:Challenge:KeyFile: every logic node of a cluster needs the same challenge key (a file holding, say, `openssl rand -hex 32`), or the challenge off ({LimitOptions.Section}:Challenge:AfterAccounts=0 and AfterMatches=0)");
        return services;
    }

    /// <summary>Logic of a cluster: pushes go to the brokers over gRPC (the seed's Broker service).</summary>
    public static IServiceCollection AddChatLogicPushesOverGrpc(this IServiceCollection services)
    {
        services.AddPushResilience();
        services.AddSingleton<GrpcPushChannel>();
        services.AddSingleton<IPushChannel>(sp => sp.GetRequiredService<GrpcPushChannel>());
        services.Replace(ServiceDescriptor.Singleton<IBrokerProbe>(sp => sp.GetRequiredService<GrpcPushChannel>()));
        return services;
    }

    /// <summary>The seed's LogicDealer service, for brokers.</summary>
    public static IEndpointRouteBuilder MapChatLogicGrpc(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<LogicDealerService>();
        return endpoints;
    }

    /// <summary>Readiness of logic: the store answers.</summary>
    public static IHealthChecksBuilder AddStoreCheck(this IHealthChecksBuilder checks, params string[] tags) =>
        checks.AddCheck<StoreReadiness>("store", HealthStatus.Unhealthy, tags);

    /// <summary>The names of logic's Polly pipelines towards brokers, whose events it logs itself.</summary>
    public static IReadOnlySet<string> ResiliencePipelines => PushResilience.Names;

    /// <summary>
    /// Whether the logic nodes of a cluster share a MariaDB database (<c>Chat:Store:Kind=mariadb</c>), which
    /// also holds Orleans' ADO.NET membership table.
    /// </summary>
    public static bool HasSharedDatabase(IConfiguration configuration) => configuration[$"{StoreOptions.Section}:{nameof(StoreOptions.Kind)}"] == "mariadb";

    /// <summary>The connection string of the shared database (<see cref="HasSharedDatabase"/>), or null with another store.</summary>
    public static string? SharedDatabase(IConfiguration configuration)
    {
        var options = configuration.GetSection(StoreOptions.Section).Get<StoreOptions>() ?? new StoreOptions();
        return options.Kind == "mariadb" ? options.ResolveConnectionString() : null;
    }

    /// <summary>Whether the MariaDB connection string (given, or read from its file) can be read; says nothing of its contents.</summary>
    private static bool HasValidConnectionString(StoreOptions options)
    {
        try
        {
            return options.ResolveConnectionString() is { } configured && MariaDbConnectionString.WithDefaults(configured) is not null;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Creates or migrates the store before anything reads or writes it.</summary>
    private sealed class StoreStartup(IChatStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class FilterStartup(MessageFilters filters) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => filters is null ? throw new InvalidOperationException("no message filters") : Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class ChallengeKeyStartup(AltchaKey key) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => key.Bytes.Length > 0 ? Task.CompletedTask : throw new InvalidOperationException("no challenge key");

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class GaugeStartup(LogicMetrics metrics, LiveCounts counts) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            metrics.Observe(() => counts.Last.Online, () => counts.Last.Waiting, () => counts.Last.ActiveSessions);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
