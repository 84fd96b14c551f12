using Grpc.Core;

namespace Chat.Protocol.Grpc;

public static class GrpcTimeouts
{
    /// <summary>
    /// A gRPC call under a Polly timeout (<paramref name="timeout"/> is the token Polly handed over): gRPC
    /// reports a cancelled call as an <see cref="RpcException"/> (Cancelled), which is turned into the
    /// <see cref="OperationCanceledException"/> that Polly recognises as its own timeout.
    /// </summary>
    public static async ValueTask<T> WithinAsync<T>(Task<T> call, CancellationToken timeout)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && timeout.IsCancellationRequested)
        {
            throw new OperationCanceledException(ex.Message, ex, timeout);
        }
    }
}
