using System.Runtime.InteropServices;

namespace Chat.Testing.Processes;

/// <summary>POSIX signals to one process, by its PID: the only way the fixtures and the local cluster end a program.</summary>
public static class Signals
{
    public const int Kill = 9;
    public const int Term = 15;
    public const int Cont = 18;
    public const int Stop = 19;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false if there is no such process (any more).</summary>
    public static bool Send(int pid, int signal)
    {
        if (SendSignal(pid, signal) == 0)
        {
            return true;
        }

        const int NoSuchProcess = 3; // ESRCH
        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess ? false : throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {errno}");
    }

    /// <summary>Whether this process runs as root (mariadbd must then be told <c>--user=root</c>).</summary>
    public static bool IsRoot => EffectiveUserId() == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint EffectiveUserId();
}
