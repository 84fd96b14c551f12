using Chat.Host.Hosting;

namespace Chat.Host;

/// <summary>
/// `chat` in one of its roles (<see cref="ChatRoles"/>): all-in-one, a broker of a cluster, or a logic node of a cluster.
/// </summary>
public static class ChatApp
{
    /// <summary>Starts at most this often when the silo port picked free is taken before the silo binds it.</summary>
    private const int StartAttempts = 5;

    /// <summary>All-in-one.</summary>
    public static Task<WebApplication> StartAsync(string[] args, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default) =>
        StartAsync(ChatRole.All, args, configureServices, cancellationToken);

    /// <summary>Builds and starts the app; a silo port picked free but taken before the silo bound it is picked again.</summary>
    /// <param name="configureServices">Runs before the chat's own registrations, so a test can put in its own parts (a fake clock).</param>
    public static async Task<WebApplication> StartAsync(ChatRole role, string[] args, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var app = Build(role, args, configureServices);
            try
            {
                await app.StartAsync(cancellationToken);
                return app;
            }
            catch (Exception ex)
            {
                var portPicked = app.Services.GetService<SiloPort>() is { Picked: true };
                await app.DisposeAsync();
                if (!(portPicked && attempt < StartAttempts && SiloExtensions.IsPortTaken(ex)))
                {
                    throw;
                }
            }
        }
    }

    private static WebApplication Build(ChatRole role, string[] args, Action<IServiceCollection>? configureServices)
    {
        args = CommandLine.Expanded(args);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, CommandLine.Shorthands);
        configureServices?.Invoke(builder.Services);
        builder.Services.AddConnectionLimits(); // every role: a crowd meets a refusal, not a process out of descriptors
        var app = role switch
        {
            ChatRole.Broker => builder.AddBrokerNode().Build().MapBrokerNode(),
            ChatRole.Logic => builder.AddLogicNode().Build().MapLogicNode(),
            _ => builder.AddAllInOne().Build().MapAllInOne(),
        };
        return app;
    }
}
