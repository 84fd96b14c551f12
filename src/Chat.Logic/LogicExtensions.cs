using Chat.Logic.Diagnostics;
using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;
using Chat.Logic.Storage.Sqlite;
using Chat.Protocol.Seams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Chat.Logic;

public static class LogicExtensions
{
    /// <summary>Logic in this process, with the store <c>Chat:Store:Kind</c> names.</summary>
    public static IServiceCollection AddChatLogic(this IServiceCollection services)
    {
        services.AddOptions<LogicOptions>().BindConfiguration(LogicOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Kind is "sqlite" or "memory", "Chat:Store:Kind must be sqlite or memory").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IChatStore>(sp => sp.GetRequiredService<IOptions<StoreOptions>>().Value.Kind == "memory"
            ? new MemoryChatStore()
            : ActivatorUtilities.CreateInstance<SqliteChatStore>(sp));
        services.TryAddSingleton<LogicMetrics>();
        services.TryAddSingleton<StoreWriter>();
        services.TryAddSingleton<ChatLogic>();
        services.TryAddSingleton<ILogic>(sp => sp.GetRequiredService<ChatLogic>());

        // Order matters: start opens the store before the writer and sweeper run; stop runs in reverse.
        services.AddHostedService<LogicStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreWriter>());
        services.AddHostedService<LogicSweeper>();
        return services;
    }

    /// <summary>Migrates the store and loads what logic carries over from the last run, before any socket is accepted.</summary>
    private sealed class LogicStartup(IChatStore store, ChatLogic logic) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await store.InitializeAsync(cancellationToken);
            await logic.StartAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
