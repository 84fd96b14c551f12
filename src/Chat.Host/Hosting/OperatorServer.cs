using Chat.Logic.Moderation;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// The operator's API and page (<c>/admin</c>) on a listener of its own (<c>Chat:Operator:Url</c>, loopback by default), in a
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
        // Every body on this listener is small, the sign-in's too, which anyone who reaches it may post.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = OperatorApi.MaxBodyBytes);
        builder.Logging.ClearProviders();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, OperatorApi.JsonResolver));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = SecurityHeaders.OperatorContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            await next(context);
        });
        var folder = PageFolder(services.GetRequiredService<IWebHostEnvironment>());
        if (Directory.Exists(folder))
        {
            var page = new PhysicalFileProvider(folder);
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page, RequestPath = OperatorPage.Root });
            app.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = page,
                RequestPath = OperatorPage.Root,
                OnPrepareResponse = file => file.Context.Response.Headers.CacheControl = "no-cache",
            });
        }
        else
        {
            Log.NoPage(logger, folder); // the API still answers
        }

        app.MapOperatorApi(services);
        app.MapOperatorPage(services);
        await app.StartAsync(cancellationToken);
        _app = app;
        Address = new Uri(app.Urls.First());
        Log.Listening(logger, Address, options.Value.Tokens.Count);
    }

    /// <summary>The page's files: the <c>admin</c> folder beside the visitors' web root (never inside it, so the visitors' port cannot serve them).</summary>
    private static string PageFolder(IWebHostEnvironment environment)
    {
        var webRoot = string.IsNullOrEmpty(environment.WebRootPath) ? Path.Combine(environment.ContentRootPath, "wwwroot") : environment.WebRootPath;
        return Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(webRoot))!, "admin");
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
        [LoggerMessage(1, LogLevel.Information, "Operator API listening on {Address} for {Operators} operators (the page: /admin).")]
        public static partial void Listening(ILogger logger, Uri address, int operators);

        [LoggerMessage(2, LogLevel.Warning, "The operator page's files are not in {Folder}: /admin is not served (the operator API is).")]
        public static partial void NoPage(ILogger logger, string folder);
    }
}

internal static class OperatorServerExtensions
{
    /// <summary>The operator's API (<c>Chat:Operator</c>) beside logic; off unless tokens are configured.</summary>
    public static IServiceCollection AddOperatorApi(this IServiceCollection services)
    {
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<OperatorSessions>();
        services.AddSingleton<OperatorServer>();
        services.AddHostedService(sp => sp.GetRequiredService<OperatorServer>());
        return services;
    }
}
