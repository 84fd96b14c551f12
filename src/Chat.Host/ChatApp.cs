using Chat.Broker;
using Chat.Host.Hosting;
using Chat.Logic;

namespace Chat.Host;

/// <summary>The all-in-one `chat`: broker and logic (one Orleans silo) in one process, the embedded store, and the web client.</summary>
public static class ChatApp
{
    private const int StartAttempts = 5;

    /// <summary>Builds and starts the app; a silo port picked free but taken before the silo bound it is picked again.</summary>
    /// <param name="configureServices">Runs before the chat's own registrations, so a test can put in its own parts (a fake clock).</param>
    public static async Task<WebApplication> StartAsync(string[] args, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (app, portPicked) = Build(args, configureServices);
            try
            {
                await app.StartAsync(cancellationToken);
                return app;
            }
            catch (Exception ex)
            {
                await app.DisposeAsync();
                if (!(portPicked && attempt < StartAttempts && SiloExtensions.IsPortTaken(ex)))
                {
                    throw;
                }
            }
        }
    }

    private static (WebApplication App, bool SiloPortPicked) Build(string[] args, Action<IServiceCollection>? configureServices)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Configuration.AddCommandLine(args, CommandLine.Shorthands);
        configureServices?.Invoke(builder.Services);
        builder.Services.AddChatLogic();
        var portPicked = builder.AddChatSilo();
        builder.Services.AddChatBroker();
        builder.Services.AddChatMetrics();

        var app = builder.Build();
        app.UseSecurityHeaders();
        app.MapChatMetrics();
        app.UseWebSockets();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapChatBroker();
        return (app, portPicked);
    }
}
