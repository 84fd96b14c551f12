using System.Text.RegularExpressions;
using Chat.Testing.Network;
using Chat.Testing.Processes;

namespace Chat.Testing.Cluster;

/// <summary>
/// nginx in front of two brokers, as deploy/nginx/chat.conf.template says, on a free 127.0.0.1 port:
/// its config, temp files and PID file in a folder of its own, its logs beside the cluster's. Ready
/// means a request through it reached a ready broker (<c>/readyz</c>).
/// </summary>
public sealed partial class NginxServer : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private const string Binary = "nginx";
    private readonly string _folder;
    private readonly string _logs;
    private OwnedProcess? _process;

    private NginxServer(string folder, string logs, int port)
    {
        _folder = folder;
        _logs = logs;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Where visitors come in, with a final <c>/</c>.</summary>
    public Uri FrontUri => new($"http://127.0.0.1:{Port}/");

    public int ProcessId => (_process ?? throw new InvalidOperationException("nginx is not running")).Id;

    /// <summary>nginx in <paramref name="folder"/>, logging into <paramref name="logs"/>, in front of the brokers at <paramref name="brokers"/> (host:port each); <paramref name="port"/> or a new free one.</summary>
    public static Task<NginxServer> StartAsync(string folder, string logs, IReadOnlyList<string> brokers, int? port, CancellationToken cancellationToken) =>
        PortTakenException.RetryAsync(port is not null, async () =>
        {
            var nginx = new NginxServer(folder, logs, port ?? LoopbackPort.ForListening());
            try
            {
                await nginx.StartAgainAsync(brokers, cancellationToken);
                return nginx;
            }
            catch (Exception ex) when (ex is not PortTakenException)
            {
                await nginx.StopAsync();
                throw;
            }
        });

    /// <summary>
    /// deploy/nginx/chat.conf.template with its <c>${CHAT_…}</c> filled in, as envsubst would; a name
    /// with no value is refused, so the template and its callers cannot drift apart unnoticed.
    /// </summary>
    public static string Render(IReadOnlyDictionary<string, string> values) =>
        Placeholder().Replace(DeployFiles.NginxTemplate, match =>
            values.TryGetValue(match.Groups[1].Value, out var value) ? value : throw new InvalidOperationException($"deploy/nginx/chat.conf.template names ${{{match.Groups[1].Value}}}, which has no value here"));

    /// <summary>SIGTERM (nginx's fast shutdown), then waits.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.StopAsync(killAfter: true);
            await process.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartAgainAsync(IReadOnlyList<string> brokers, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(_folder, "tmp"));
        Directory.CreateDirectory(_logs);
        var errors = Path.Combine(_logs, "nginx-error.log");
        await File.WriteAllTextAsync(Path.Combine(_folder, "chat.conf"), Render(new Dictionary<string, string>
        {
            ["CHAT_LISTEN"] = $"127.0.0.1:{Port}",
            ["CHAT_BROKER1"] = brokers[0],
            ["CHAT_BROKER2"] = brokers[1],
            ["CHAT_ACCESS_LOG"] = Path.Combine(_logs, "nginx-access.log"),
        }), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "nginx.conf"), $$"""
            # Written for the cluster in {{Path.GetDirectoryName(_folder)}} only: an nginx of its own around
            # chat.conf (deploy/nginx/chat.conf.template, rendered). Paths are this folder's.
            daemon off;
            worker_processes 1;
            pid {{Path.Combine(_folder, "nginx.pid")}};
            error_log {{errors}} warn;

            events {
                worker_connections 1024;
            }

            http {
                client_body_temp_path {{_folder}}/tmp/body;
                proxy_temp_path {{_folder}}/tmp/proxy;
                fastcgi_temp_path {{_folder}}/tmp/fastcgi;
                uwsgi_temp_path {{_folder}}/tmp/uwsgi;
                scgi_temp_path {{_folder}}/tmp/scgi;
                include chat.conf;
            }

            """, cancellationToken);

        string[] arguments = ["-p", _folder + "/", "-c", Path.Combine(_folder, "nginx.conf"), "-e", errors];
        var log = Path.Combine(_logs, "nginx.log");
        await using (var test = OwnedProcess.StartLogged("nginx -t", log, Binary, ["-t", "-q", .. arguments]))
        {
            await test.ExitedAsync(StartTimeout);
            if (test.ExitCode != 0)
            {
                throw new InvalidOperationException($"nginx refused its configuration ({_folder}/nginx.conf); {log}:\n{test.Output}");
            }
        }

        var process = OwnedProcess.StartLogged("nginx", log, Binary, arguments);
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await process.WaitUntilReadyAsync(token => Readiness.IsReadyAsync(http, FrontUri, token), StartTimeout, $"proxying to a ready broker ({FrontUri}readyz)", cancellationToken);
        }
        catch (PortTakenException)
        {
            _process = null;
            await process.DisposeAsync();
            throw;
        }
    }

    [GeneratedRegex(@"\$\{(CHAT_[A-Z0-9_]+)\}")]
    private static partial Regex Placeholder();
}
