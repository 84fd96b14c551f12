using System.Collections.Concurrent;
using System.Threading.Channels;
using Chat.Protocol.Grpc;
using Chat.Testing.Network;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Testing.Cluster;

/// <summary>
/// A broker as the seed built it, for tests of our logic: it serves only the seed's two push
/// methods of the <c>Broker</c> service and keys what it receives by <c>receiverId</c> (it has no
/// connection ids). What it receives is kept per receiver, in order.
/// </summary>
public sealed class SeedBroker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Inboxes _received;

    private SeedBroker(WebApplication app, Inboxes received, string address)
    {
        _app = app;
        _received = received;
        Address = address;
    }

    /// <summary>host:port, as it tells logic in CreateAccount and Reconnect.</summary>
    public string Address { get; }

    public static async Task<SeedBroker> StartAsync()
    {
        var port = LoopbackPort.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var received = new Inboxes();
        builder.Services.AddSingleton(received);
        var app = builder.Build();
        app.MapGrpcService<Service>();
        var broker = new SeedBroker(app, received, $"127.0.0.1:{port}");
        await app.StartAsync().Within(TimeSpan.FromSeconds(30), "starting the seed's broker");
        return broker;
    }

    /// <summary>The next push for <paramref name="receiverId"/> of the given type that matches.</summary>
    public async Task<T> ExpectAsync<T>(ulong receiverId, Func<T, bool>? match = null)
    {
        var pushes = _received.Of(receiverId).Reader;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await pushes.ReadAsync(timeout.Token) is T push && (match is null || match(push)))
            {
                return push;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>What each receiver was pushed, in order.</summary>
    private sealed class Inboxes
    {
        private readonly ConcurrentDictionary<ulong, Channel<object>> _byReceiver = new();

        public Channel<object> Of(ulong receiverId) => _byReceiver.GetOrAdd(receiverId, _ => Channel.CreateUnbounded<object>());
    }

    private sealed class Service(Inboxes received) : Chat.Protocol.Grpc.Broker.BrokerBase
    {
        public override Task<PushResp> ReceiveMsgDialogue(PushDialogue request, ServerCallContext context)
        {
            received.Of(request.ReceiverId).Writer.TryWrite(request);
            return Task.FromResult(new PushResp { Code = CodeEnum.Success });
        }

        public override Task<PushResp> ReceiveMsgSignal(PushSignal request, ServerCallContext context)
        {
            received.Of(request.ReceiverId).Writer.TryWrite(request);
            return Task.FromResult(new PushResp { Code = CodeEnum.Success });
        }
    }
}
