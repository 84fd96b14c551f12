using System.Diagnostics;
using System.Text;
using Chat.Testing;
using Chat.Testing.Files;
using Chat.Testing.Processes;

namespace Chat.BrowserTests;

/// <summary>
/// A whole cluster as an operator starts it: <c>deploy/local-cluster.sh up</c> in a temp folder
/// (MariaDB, etcd, two logic nodes, two brokers, nginx), running the local-cluster.dll and chat.dll
/// built beside these tests. Clients reach it through nginx (<c>FRONT_URL</c>, <see cref="HttpUri"/>). <c>down</c> always
/// runs on dispose. Parts are signalled only by the PIDs the script wrote in <c>cluster.env</c>
/// (<c>BROKER_PIDS</c>, <c>LOGIC_PIDS</c>, ...), and only while their command line names the cluster's folder.
/// </summary>
internal sealed class LocalCluster : IChatServer, IAsyncDisposable
{
    private static readonly TimeSpan UpTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan DownTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private const int LogLinesShown = 25;

    private readonly TempFolder _folder;
    private Dictionary<string, string> _env = [];

    private LocalCluster(TempFolder folder) => _folder = folder;

    /// <summary>The names every <c>cluster.env</c> carries (deploy/README.md), besides the per-part ones.</summary>
    public static readonly string[] ContractNames =
    [
        "FRONT_URL", "BROKER_URLS", "BROKER_PIDS", "LOGIC_PIDS", "LOGIC_GRPC", "LOGIC_HTTP",
        "MARIADB_PID", "ETCD_PID", "ETCD_URL", "TLS_DIR", "TLS_CA", "ETCD_ROOT_PASSWORD_FILE",
    ];

    /// <summary>nginx, in front of both brokers.</summary>
    public Uri HttpUri => new(Env("FRONT_URL"));

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    private static string Script => Path.Combine(RepoPaths.Root, "deploy", "local-cluster.sh");

    public static async Task<LocalCluster> UpAsync()
    {
        var cluster = new LocalCluster(TempFolder.Create("chat-cluster-"));
        try
        {
            await cluster.RunScriptAsync(UpTimeout, "up", cluster._folder.Path);
            cluster.ReadEnv();
            return cluster;
        }
        catch (Exception ex)
        {
            var logs = cluster.Logs();
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"{ex.Message}\n{logs}", ex);
        }
    }

    /// <summary>A value from <c>cluster.env</c> as the script last wrote it.</summary>
    public string Env(string name) =>
        _env.TryGetValue(name, out var value) && value.Length > 0 ? value : throw new InvalidOperationException($"cluster.env has no {name}");

    /// <summary>The entries of a comma-separated line of <c>cluster.env</c> (<c>BROKER_URLS</c>, <c>LOGIC_PIDS</c>, ...), in order; empty where a part is stopped.</summary>
    public IReadOnlyList<string> List(string name) => Env(name).Split(',');

    /// <summary>
    /// The PID of a part as cluster.env has it now: a broker's or logic node's from <c>BROKER_PIDS</c>
    /// or <c>LOGIC_PIDS</c> (broker1 is the first entry), any other part's from <c>PART_PID</c>.
    /// </summary>
    public int Pid(string part)
    {
        var text = part switch
        {
            "broker1" or "broker2" => List("BROKER_PIDS")[part[^1] - '1'],
            "logic1" or "logic2" => List("LOGIC_PIDS")[part[^1] - '1'],
            _ => Env(part.ToUpperInvariant() + "_PID"),
        };
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)
            ? pid
            : throw new InvalidOperationException($"cluster.env has no PID for {part} ('{text}'): is it stopped?");
    }

    /// <summary>cluster.env's permissions (it holds the cluster's secret).</summary>
    public UnixFileMode EnvFileMode => ModeOf(Path.Combine(_folder.Path, "cluster.env"));

    /// <summary>A file's permissions (the cluster's keys, cluster.env).</summary>
    public static UnixFileMode ModeOf(string path) => OperatingSystem.IsWindows()
        ? throw new PlatformNotSupportedException("local-cluster.sh runs on Linux")
        : File.GetUnixFileMode(path);

    /// <summary>SIGTERM to a part (broker1, logic2, ...), by its PID in cluster.env, as a service stop sends it; waits until it has exited.</summary>
    public async Task TerminateAsync(string part)
    {
        var process = new RecordedProcess(Pid(part), Env("CLUSTER_DIR") + "/");
        if (!process.Signal(Signals.Term))
        {
            throw new InvalidOperationException($"{part}: PID {process.Pid} is not a process of the cluster in {Env("CLUSTER_DIR")}");
        }

        if (!await process.GoneWithinAsync(StopTimeout))
        {
            throw new TimeoutException($"{part} (PID {process.Pid}) still running {StopTimeout.TotalSeconds:0} s after SIGTERM");
        }
    }

    /// <summary><c>local-cluster.sh start DIR part</c>: the part again, on its ports, ready; cluster.env then has its new PID.</summary>
    public async Task StartAsync(string part)
    {
        await RunScriptAsync(StartTimeout, "start", _folder.Path, part);
        ReadEnv();
    }

    /// <summary>The last lines of every log of the cluster, for a failure message.</summary>
    public string Logs()
    {
        var logs = Path.Combine(_folder.Path, "logs");
        if (!Directory.Exists(logs))
        {
            return "(no logs)";
        }

        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(logs, "*.log").Order(StringComparer.Ordinal))
        {
            text.Append("--- ").AppendLine(file);
            foreach (var line in File.ReadLines(file).TakeLast(LogLinesShown))
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunScriptAsync(DownTimeout, "down", _folder.Path);
        }
        finally
        {
            _folder.Dispose();
        }
    }

    private async Task RunScriptAsync(TimeSpan limit, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The programs built with these tests, run by the dotnet running them: no second build.
        start.Environment["CHAT_CLUSTER_DLL"] = Path.Combine(AppContext.BaseDirectory, "local-cluster.dll");
        start.Environment["CHAT_DLL"] = Path.Combine(AppContext.BaseDirectory, "chat.dll");
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } dotnet)
        {
            start.Environment["DOTNET"] = dotnet;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start bash " + Script);
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().Within(limit, $"local-cluster.sh {arguments[0]}");
        }
        catch (TimeoutException)
        {
            // SIGTERM: the program stops what it had started; SIGKILL only if it does not end.
            Signals.Send(process.Id, Signals.Term);
            if (!process.WaitForExit(StopTimeout))
            {
                process.Kill();
            }

            throw;
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"local-cluster.sh {string.Join(' ', arguments)} failed with {process.ExitCode}:\n{await output}\n{await errors}");
        }
    }

    private void ReadEnv() =>
        _env = File.ReadLines(Path.Combine(_folder.Path, "cluster.env"))
            .Where(line => line.Length > 0 && line[0] != '#' && line.Contains('=', StringComparison.Ordinal))
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
}
