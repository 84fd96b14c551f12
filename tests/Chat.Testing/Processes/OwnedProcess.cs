using System.Diagnostics;
using System.Globalization;

namespace Chat.Testing.Processes;

/// <summary>
/// A program a fixture or the local cluster started (mariadbd, etcd, a chat node, nginx), stopped by
/// the PID it was started with (SIGTERM, or SIGKILL as a crash), never by name. Its output is kept
/// for failure messages: in memory (<see cref="Start"/>), or appended to a log file
/// (<see cref="StartLogged"/>), which lets the program outlive this process: the local cluster's
/// parts run on after <c>local-cluster.sh up</c> has returned.
/// </summary>
public sealed class OwnedProcess : IAsyncDisposable
{
    private const int OutputLinesKept = 60;
    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly string? _log;
    private readonly long _logStart;

    private OwnedProcess(Process process, string name, string? log, long logStart)
    {
        _process = process;
        Name = name;
        _log = log;
        _logStart = logStart;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Its exit status, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The program's last lines of output (since this start), for a failure message.</summary>
    public string Output
    {
        get
        {
            if (_log is not null)
            {
                return string.Join('\n', OutputSinceStart().Split('\n').TakeLast(OutputLinesKept));
            }

            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>It exited because an address it was to listen on was taken (by another program, after the port was picked).</summary>
    private bool ExitedForTakenPort => HasExited && OutputSinceStart().Contains("already in use", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Asks <paramref name="ready"/> (an exception counts as "not yet") every 50 ms until it says
    /// yes. Throws <see cref="PortTakenException"/> if the program exits because its port was
    /// taken, and otherwise, if it exits or <paramref name="limit"/> passes, an exception with its
    /// last lines of output. Readiness is only ever asked for: the programs announce nothing.
    /// </summary>
    public async Task WaitUntilReadyAsync(Func<CancellationToken, Task<bool>> ready, TimeSpan limit, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (HasExited)
            {
                throw ExitedForTakenPort
                    ? new PortTakenException(Name)
                    : new InvalidOperationException($"{Name} exited with {ExitCode} before it was {what}; {_log ?? "its output"}:\n{Output}");
            }

            try
            {
                if (await ready(cancellationToken))
                {
                    return;
                }
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // not yet
            }

            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"{Name} was not {what} within {limit.TotalSeconds:0} s; {_log ?? "its output"}:\n{Output}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>Starts a program whose output is kept in memory; it is this process's child and ends with it.</summary>
    public static OwnedProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = StartInfo(fileName, arguments, environment);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var owned = new OwnedProcess(process, name, null, 0);
        process.OutputDataReceived += (_, e) => owned.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => owned.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return owned;
    }

    /// <summary>
    /// Starts a program with its standard output and error appended to <paramref name="log"/> (after a
    /// line saying when it started) and standard input from /dev/null, so nothing ties it to this
    /// process. It is run through <c>/bin/sh -c 'exec …'</c>: the PID is the program's from the first
    /// moment, and its command line names every argument (the local cluster recognises its parts so).
    /// </summary>
    public static OwnedProcess StartLogged(string name, string log, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        File.AppendAllText(log, string.Create(CultureInfo.InvariantCulture, $"\n=== {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} starting {name}\n"));
        var logStart = new FileInfo(log).Length;
        var start = StartInfo("/bin/sh", ["-c", "exec \"$@\" </dev/null >>\"$0\" 2>&1", log, fileName, .. arguments], environment);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        return new OwnedProcess(process, name, log, logStart);
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

    /// <summary>SIGTERM, and waits for it to end; SIGKILL if it has not within <paramref name="limit"/> and <paramref name="killAfter"/> is set.</summary>
    public async Task StopAsync(TimeSpan? limit = null, bool killAfter = false)
    {
        if (!_process.HasExited)
        {
            Signals.Send(_process.Id, Signals.Term);
        }

        var wait = _process.WaitForExitAsync().Within(limit ?? TimeSpan.FromSeconds(60), $"{Name} to stop");
        if (!killAfter)
        {
            await wait;
            return;
        }

        try
        {
            await wait;
        }
        catch (TimeoutException)
        {
            await KillAsync();
        }
    }

    /// <summary>Waits for it to end by itself.</summary>
    public Task ExitedAsync(TimeSpan limit) => _process.WaitForExitAsync().Within(limit, $"{Name} to exit by itself");

    /// <summary>SIGSTOP: it stays, but answers nothing (a hung or unreachable node).</summary>
    public void Pause() => Signals.Send(_process.Id, Signals.Stop);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume()
    {
        if (!_process.HasExited)
        {
            Signals.Send(_process.Id, Signals.Cont);
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

    private static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(fileName) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return start;
    }

    private string OutputSinceStart()
    {
        if (_log is null)
        {
            return Output;
        }

        try
        {
            using var file = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            file.Seek(Math.Min(_logStart, file.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(file);
            return reader.ReadToEnd();
        }
        catch (IOException ex)
        {
            return $"({_log} cannot be read: {ex.Message})";
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
}
