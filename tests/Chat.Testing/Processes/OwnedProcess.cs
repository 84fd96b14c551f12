using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Chat.Testing.Processes;

/// <summary>
/// A program a fixture started (etcd, a chat node, nginx): its output kept for failure messages,
/// stopped by the PID it was started with (SIGTERM, or SIGKILL as a crash), never by name.
/// </summary>
public sealed class OwnedProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int SigStop = 19;
    private const int SigCont = 18;
    private const int OutputLinesKept = 60;
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private OwnedProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Its exit status, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The program's last lines of output, for a failure message.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public static OwnedProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var owned = new OwnedProcess(process, name);
        process.OutputDataReceived += (_, e) => owned.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => owned.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return owned;
    }

    /// <summary>Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>; fails with the program's output if it exits first.</summary>
    public async Task WaitForPortAsync(int port, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before it listened on {port}:\n{Output}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50); // polling a port: the program offers no event to wait for
            }
            catch (SocketException ex)
            {
                throw new TimeoutException($"{Name} did not listen on {port} within {limit.TotalSeconds:0} s:\n{Output}", ex);
            }
        }
    }

    /// <summary>SIGKILL, as a crash: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync().Within(TimeSpan.FromSeconds(30), $"{Name} to die");
    }

    /// <summary>SIGTERM, and waits for it to end.</summary>
    public async Task StopAsync(TimeSpan? limit = null)
    {
        if (!_process.HasExited && Signal(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        await _process.WaitForExitAsync().Within(limit ?? TimeSpan.FromSeconds(60), $"{Name} to stop");
    }

    /// <summary>Waits for it to end by itself.</summary>
    public Task ExitedAsync(TimeSpan limit) => _process.WaitForExitAsync().Within(limit, $"{Name} to exit by itself");

    /// <summary>SIGSTOP: it stays, but answers nothing (a hung or unreachable node).</summary>
    public void Pause() => SignalOrThrow(SigStop, "SIGSTOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume()
    {
        if (!_process.HasExited)
        {
            SignalOrThrow(SigCont, "SIGCONT");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Resume();
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void SignalOrThrow(int signal, string name)
    {
        if (Signal(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {name}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLinesKept)
            {
                _output.Dequeue();
            }
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Signal(int pid, int signal);
}
