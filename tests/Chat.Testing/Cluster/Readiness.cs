namespace Chat.Testing.Cluster;

/// <summary>A node's <c>/readyz</c> (a broker: some logic node answers; logic: its store does), asked until it says ready.</summary>
public static class Readiness
{
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(30);

    /// <param name="failure">Why waiting is pointless (the process exited, with its output), or null to go on.</param>
    public static async Task WaitAsync(Uri httpUri, string what, TimeSpan? limit = null, Func<string?>? failure = null, CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + (limit ?? DefaultLimit);
        while (true)
        {
            if (failure?.Invoke() is { } reason)
            {
                throw new InvalidOperationException($"{what} will not be ready: {reason}");
            }

            try
            {
                using var answer = await http.GetAsync(new Uri(httpUri, "/readyz"), cancellationToken);
                if (answer.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} at {httpUri} not ready within {(limit ?? DefaultLimit).TotalSeconds:0} s");
            }

            await Task.Delay(100, cancellationToken); // readiness is only asked for, never announced
        }
    }
}
