using Chat.Logic.Moderation;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// The operator's API on a listener of its own (<c>Chat:Operator:Url</c>, loopback by default), in a
/// process that runs logic: a second, small web server beside the chat's, so nothing of it is ever
/// reachable through the port visitors use, whatever a proxy in front forwards. Off (nothing listens)
/// unless operator tokens are configured.
/// </summary>
internal sealed partial class OperatorServer(IServiceProvider services, IOptions<OperatorOptions> options, ILogger<OperatorServer> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    /// <summary>Where the API listens once started (null while off).</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.IsOn)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Value.Url);
        builder.Logging.ClearProviders();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, OperatorApi.JsonResolver));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            await next(context);
        });
        app.MapOperatorApi(services);
        await app.StartAsync(cancellationToken);
        _app = app;
        Address = new Uri(app.Urls.First());
        Log.Listening(logger, Address, options.Value.Tokens.Count);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.DisposeAsync();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Operator API listening on {Address} for {Operators} operators.")]
        public static partial void Listening(ILogger logger, Uri address, int operators);
    }
}

internal static class OperatorServerExtensions
{
    /// <summary>The operator's API (<c>Chat:Operator</c>) beside logic; off unless tokens are configured.</summary>
    public static IServiceCollection AddOperatorApi(this IServiceCollection services)
    {
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<OperatorServer>();
        services.AddHostedService(sp => sp.GetRequiredService<OperatorServer>());
        return services;
    }
}
