namespace Chat.Host.Hosting;

public static class HealthExtensions
{
    /// <summary>
    /// <c>/healthz</c>: the process answers. <c>/readyz</c>: it can do its work now (<paramref name="ready"/>:
    /// the store answers, or, on a broker, some logic node does); 503 otherwise, so a balancer or an
    /// orchestrator takes it out of rotation.
    /// </summary>
    public static WebApplication MapChatHealth(this WebApplication app, Func<IServiceProvider, CancellationToken, Task<bool>> ready)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", async (HttpContext context) =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            bool isReady;
            try
            {
                isReady = await ready(context.RequestServices, timeout.Token);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                isReady = false;
            }

            return isReady ? Results.Text("ready\n") : Results.Text("not ready\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        return app;
    }
}
