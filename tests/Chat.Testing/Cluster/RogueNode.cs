using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Testing.Cluster;

/// <summary>
/// What an attacker who can write to etcd would register as a logic node: a real gRPC-speaking
/// server (Kestrel, HTTP/2) on a loopback port that takes any call and writes down what it got,
/// headers included (where a cluster's secret would be). Without a certificate it speaks h2c; with
/// one (another CA's, or the cluster's in the wrong role) TLS. It counts the connections made to it,
/// so a test can tell "never dialed" from "dialed, and nothing sent".
/// </summary>
public sealed class RogueNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _calls = new();
    private int _connections;

    private RogueNode(WebApplication app) => _app = app;

    /// <summary>host:port, as it would be registered.</summary>
    public string Address { get; private set; } = string.Empty;

    /// <summary>TCP connections made to it.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Each request it received: its path and every header, one line each.</summary>
    public IReadOnlyCollection<string> Calls => _calls;

    public static async Task<RogueNode> StartAsync(X509Certificate2? certificate)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        RogueNode? rogue = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.Use(next => connection =>
            {
                Interlocked.Increment(ref rogue!._connections);
                return next(connection);
            });
            if (certificate is not null)
            {
                listen.UseHttps(certificate); // no client certificate asked for: it would take any caller
            }
        }));
        var app = builder.Build();
        rogue = new RogueNode(app);
        app.Run(context =>
        {
            rogue._calls.Enqueue($"{context.Request.Path} {string.Join(" ", context.Request.Headers.Select(header => $"{header.Key}: {header.Value}"))}");
            context.Response.StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        rogue.Address = $"127.0.0.1:{new Uri(address).Port}";
        return rogue;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
