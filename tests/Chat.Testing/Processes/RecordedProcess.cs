using System.Diagnostics;

namespace Chat.Testing.Processes;

/// <summary>
/// A program started earlier, by another run (<c>local-cluster.sh up</c> started it; <c>down</c>,
/// <c>stop</c> and the browser tests end it), known by the PID written down then. It counts as
/// running only while that PID's command line still names <see cref="Marker"/> (the cluster's
/// folder), so a PID the system has since given to another program is never signalled.
/// </summary>
public sealed record RecordedProcess(int Pid, string Marker)
{
    /// <summary>The process whose PID <paramref name="pidFile"/> holds, or null if the file is missing or holds no PID.</summary>
    public static RecordedProcess? Read(string pidFile, string marker) =>
        File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? new RecordedProcess(pid, marker)
            : null;

    /// <summary>Running (not a zombie), and its command line names <see cref="Marker"/>.</summary>
    public bool IsRunning
    {
        get
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{Pid}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..];
                return !state.StartsWith('Z') && File.ReadAllText($"/proc/{Pid}/cmdline").Replace('\0', ' ').Contains(Marker, StringComparison.Ordinal);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false; // gone
            }
        }
    }

    /// <summary>Sends <paramref name="signal"/> if it is still ours; false if it is not running.</summary>
    public bool Signal(int signal) => IsRunning && Signals.Send(Pid, signal);

    /// <summary>
    /// SIGTERM, then waits up to <paramref name="limit"/> for it to end; SIGKILL after that. It is not
    /// this process's child, so there is no exit to await: <c>/proc</c> is looked at until it is gone.
    /// Returns false if it was still running even after SIGKILL.
    /// </summary>
    public async Task<bool> StopAsync(TimeSpan limit, Action<string>? say = null)
    {
        if (!Signal(Signals.Term))
        {
            return true;
        }

        if (await GoneWithinAsync(limit))
        {
            return true;
        }

        say?.Invoke($"PID {Pid} did not stop within {limit.TotalSeconds:0} s of SIGTERM: SIGKILL");
        Signal(Signals.Kill);
        return await GoneWithinAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Whether it has ended within <paramref name="limit"/>.</summary>
    public async Task<bool> GoneWithinAsync(TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        while (IsRunning)
        {
            if (clock.Elapsed > limit)
            {
                return false;
            }

            await timer.WaitForNextTickAsync();
        }

        return true;
    }
}
