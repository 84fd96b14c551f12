using Chat.Broker;
using Chat.Host.Hosting;
using Chat.Logic;

namespace Chat.Host;

/// <summary>The all-in-one `chat`: broker and logic in one process, the embedded store, and the web client.</summary>
public static class ChatApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Configuration.AddCommandLine(args, CommandLine.Shorthands);
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
