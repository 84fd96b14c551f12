using Chat.Broker;
using Chat.Host.Hosting;
using Chat.Logic;

namespace Chat.Host;

/// <summary>The all-in-one `chat`: broker and logic in one process, the embedded store, and the web client.</summary>
public static class ChatApp
{
    /// <param name="configureServices">Runs before the chat's own registrations, so a test can put in its own parts (a fake clock).</param>
    public static WebApplication Build(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Configuration.AddCommandLine(args, CommandLine.Shorthands);
        configureServices?.Invoke(builder.Services);
        builder.Services.AddChatLogic();
        builder.Services.AddChatBroker();
        builder.Services.AddChatMetrics();

        var app = builder.Build();
        app.UseSecurityHeaders();
        app.MapChatMetrics();
        app.UseWebSockets();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapChatBroker();
        return app;
    }
}
