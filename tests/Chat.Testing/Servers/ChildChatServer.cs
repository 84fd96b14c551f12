using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Chat.Testing.Files;
using Chat.Testing.Processes;

namespace Chat.Testing.Servers;

/// <summary>
/// The `chat` executable (<c>dotnet chat.dll</c>) as a child process, for tests that stop it hard
/// (kill -9) or cleanly (SIGTERM) and start it again on the same port and data folder. Only the
/// process this fixture started is ever signalled, by its PID.
/// </summary>
public sealed partial class ChildChatServer : IChatServer, IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private const int SigTerm = 15;
    private const int OutputLinesKept = 40;

    private readonly TempFolder _data;
    private readonly string[] _settings;
    private readonly Queue<string> _output = new();
    private Process? _process;

    private ChildChatServer(TempFolder data, string[] settings)
    {
        _data = data;
        _settings = settings;
    }

    public string DataDirectory => _data.Path;

    public Uri HttpUri { get; private set; } = null!;

    public Uri WebSocketUri => new UriBuilder(HttpUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>The PID of the running child; the only process this fixture signals.</summary>
    public int ProcessId => (_process ?? throw new InvalidOperationException("the server is not running")).Id;

    /// <summary>Starts `chat` on a free port and a new data folder (deleted on dispose); <paramref name="settings"/> are configuration overrides.</summary>
    public static async Task<ChildChatServer> StartAsync(params string[] settings)
    {
        var server = new ChildChatServer(TempFolder.Create("chat-child-"), settings);
        try
        {
            await server.StartProcessAsync(port: 0);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public async Task KillAsync()
    {
        var process = Running();
        if (!process.HasExited)
        {
            process.Kill();
        }

        await ReapAsync(process, "chat to die after SIGKILL");
    }

    /// <summary>SIGTERM: the server closes its sockets ("service restart") and stops cleanly.</summary>
    public async Task StopAsync()
    {
        var process = Running();
        if (!process.HasExited && SendSignal(process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        await ReapAsync(process, "chat to stop after SIGTERM");
    }

    /// <summary>Starts `chat` again, after a kill or a stop, on the same port, data folder and settings.</summary>
    public async Task RestartAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("chat is still running: kill or stop it first");
        }

        await StartProcessAsync(HttpUri.Port);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { } process)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                await ReapAsync(process, "chat to die on dispose");
            }
        }
        finally
        {
            _data.Dispose();
        }
    }

    private async Task StartProcessAsync(int port)
    {
        var start = new ProcessStartInfo(ChatExecutable.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ChatExecutable.Dll);
        start.ArgumentList.Add($"--urls=http://127.0.0.1:{port}");
        start.ArgumentList.Add($"--Chat:Store:Path={_data.File("chat.db")}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        // The "Now listening on" line is how we learn the port and that the server is ready.
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        foreach (var setting in LimitSettings.Off.Concat(_settings))
        {
            start.ArgumentList.Add("--" + setting);
        }

        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            Keep(line);
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Keep(line);
            }
        };
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("chat exited before listening:\n" + Output()));

        lock (_output)
        {
            _output.Clear();
        }

        if (!process.Start())
        {
            throw new InvalidOperationException("could not start " + start.FileName);
        }

        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            HttpUri = await listening.Task.Within(StartTimeout, "chat to listen");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + ", output so far:\n" + Output(), ex);
        }
    }

    private Process Running() => _process ?? throw new InvalidOperationException("chat is not running");

    private async Task ReapAsync(Process process, string what)
    {
        await process.WaitForExitAsync().Within(StopTimeout, what);
        _process = null;
        process.Dispose();
    }

    private void Keep(string line)
    {
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLinesKept)
            {
                _output.Dequeue();
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return string.Join('\n', _output);
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
