namespace Chat.Testing.Cluster;

/// <summary>A node's <c>/readyz</c> (a broker: some logic node answers; logic: its store does), asked until it says ready.</summary>
public static class Readiness
{
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(30);

    /// <summary>Whether <c>/readyz</c> at <paramref name="httpUri"/> says ready now (200).</summary>
    public static async Task<bool> IsReadyAsync(HttpClient http, Uri httpUri, CancellationToken cancellationToken)
    {
        using var answer = await http.GetAsync(new Uri(httpUri, "/readyz"), cancellationToken);
        return answer.IsSuccessStatusCode;
    }

    /// <summary>Asks until it says ready; a <see cref="TimeoutException"/> after <paramref name="limit"/>.</summary>
    public static async Task WaitAsync(Uri httpUri, string what, TimeSpan? limit = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + (limit ?? DefaultLimit);
        while (true)
        {
            try
            {
                if (await IsReadyAsync(http, httpUri, CancellationToken.None))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} at {httpUri} not ready within {(limit ?? DefaultLimit).TotalSeconds:0} s");
            }

            await Task.Delay(100); // readiness is only asked for, never announced
        }
    }
}
