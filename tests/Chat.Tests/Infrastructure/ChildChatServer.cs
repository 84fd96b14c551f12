using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// The `chat` executable as a child process, for tests that stop it hard (kill -9) or restart it on
/// the same data file. Only the process it started is ever signalled, by PID.
/// </summary>
public sealed partial class ChildChatServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildChatServer(Process process) => _process = process;

    public Uri HttpUri { get; private set; } = null!;

    public Uri WebSocketUri => new($"ws://{HttpUri.Authority}/ws");

    public static async Task<ChildChatServer> StartAsync(string dataDirectory, params string[] settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "chat.dll"));
        start.ArgumentList.Add("--urls=http://127.0.0.1:0");
        start.ArgumentList.Add($"--Chat:Store:Path={Path.Combine(dataDirectory, "chat.db")}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        foreach (var setting in settings)
        {
            start.ArgumentList.Add("--" + setting);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start chat");
        var server = new ChildChatServer(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && ListeningLine().Match(line) is { Success: true } match)
            {
                server._listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        server.HttpUri = await server._listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return server;
    }

    public async Task<TestClient> ConnectAsync() => await TestClient.ConnectAsync(WebSocketUri);

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGTERM: the server closes its sockets ("service restart") and stops cleanly.</summary>
    public async Task StopAsync()
    {
        if (Terminate(_process.Id, 15) != 0)
        {
            throw new InvalidOperationException("kill(SIGTERM) failed");
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Terminate(int pid, int signal);
}
