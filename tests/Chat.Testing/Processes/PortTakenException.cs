namespace Chat.Testing.Processes;

/// <summary>
/// A program exited at its start because an address it was to listen on was taken: another program
/// bound the port between the moment it was picked free and the moment this one tried.
/// </summary>
public sealed class PortTakenException(string program) : Exception($"{program}: a port it was to listen on was taken meanwhile")
{
    private const int Attempts = 3;

    /// <summary>
    /// Runs <paramref name="start"/> (which picks new free ports each time) again while it fails for
    /// a taken port, up to three times; with <paramref name="fixedPorts"/>, once.
    /// </summary>
    public static async Task<T> RetryAsync<T>(bool fixedPorts, Func<Task<T>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (PortTakenException) when (!fixedPorts && attempt < Attempts)
            {
                // Other ports, next time round.
            }
        }
    }
}
