using Chat.Protocol.Grpc;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Chat.Host.Cluster;

/// <summary>
/// Refuses every gRPC call that does not carry the cluster's secret (reflection included): only our nodes
/// talk to our nodes. The standard health service is the exception: it says only what <c>/readyz</c> says,
/// to probes (an orchestrator's, grpc_health_probe) that carry no secret.
/// </summary>
internal sealed class SecretInterceptor(ClusterSecret secret) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }

    private const string HealthService = "/grpc.health.v1.Health/";

    private void Check(ServerCallContext context)
    {
        if (!secret.IsPresentedBy(context.RequestHeaders) && !context.Method.StartsWith(HealthService, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "this service answers the cluster's own nodes only"));
        }
    }
}
