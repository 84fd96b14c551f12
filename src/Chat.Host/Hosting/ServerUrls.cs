using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// All-in-one's HTTP addresses (<c>--urls</c>, <c>Urls</c> or <c>ASPNETCORE_URLS</c>, ';'-separated), which
/// Kestrel binds itself: checked at start as Kestrel will read them, so a typo is a refusal naming the
/// setting rather than Kestrel's stack trace once the silo is already up.
/// </summary>
public sealed class ServerUrls
{
    public string Urls { get; set; } = string.Empty;

    public static IServiceCollection AddServerUrlsCheck(IServiceCollection services)
    {
        services.AddOptions<ServerUrls>()
            .Configure<IConfiguration>((options, configuration) => options.Urls = configuration[WebHostDefaults.ServerUrlsKey] ?? string.Empty)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ServerUrls>, Validation>();
        return services;
    }

    private sealed class Validation : IValidateOptions<ServerUrls>
    {
        public ValidateOptionsResult Validate(string? name, ServerUrls options)
        {
            var refusals = new List<string>();
            foreach (var url in options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    BindingAddress.Parse(url);
                }
                catch (FormatException)
                {
                    refusals.Add($"--urls: '{url}' is not an address to listen on, such as http://127.0.0.1:18224.");
                }
            }

            return refusals.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(refusals);
        }
    }
}
