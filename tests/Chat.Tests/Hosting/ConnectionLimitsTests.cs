using System.Net.WebSockets;
using Chat.Host.Hosting;
using Chat.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Chat.Tests.Hosting;

/// <summary>Kestrel holds no more sockets than it was told to (by default what the process's descriptors allow), and the ones it holds carry on.</summary>
public sealed class ConnectionLimitsTests
{
    [Fact]
    public async Task A_socket_past_Chat_Http_MaxWebSockets_is_refused_and_the_open_ones_carry_on()
    {
        await using var server = await ChatServer.StartAsync("Chat:Http:MaxWebSockets=3");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        await using var third = await server.NewVisitorAsync("third");

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => server.ConnectAsync());
        Assert.Contains("503", refused.Message + refused.InnerException?.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await alice.SayAsync(sessionId, "still here")).Code());
        Assert.Equal("still here", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        // A socket that goes makes room for the next.
        await third.CloseAsync();
        await third.Closed.WaitAsync(TestClient.Timeout);
        // Kestrel counts it gone once the server has finished with it, a moment after the close handshake.
        using var deadline = new CancellationTokenSource(TestClient.Timeout);
        while (true)
        {
            try
            {
                await using var next = await server.NewVisitorAsync("next");
                break;
            }
            catch (WebSocketException) when (!deadline.IsCancellationRequested)
            {
                await Task.Delay(50, deadline.Token);
            }
        }
    }

    [Fact]
    public async Task By_default_Kestrel_may_hold_as_many_connections_as_the_descriptor_limit_less_512()
    {
        await using var server = await ChatServer.StartAsync();
        var limits = server.Get<IOptions<KestrelServerOptions>>().Value.Limits;
        var limit = ConnectionLimits.OpenFileLimit();
        Assert.NotNull(limit); // Linux: /proc/self/limits
        Assert.Equal(limit - 512, limits.MaxConcurrentUpgradedConnections);
        Assert.Equal(limit - 512, limits.MaxConcurrentConnections);
        Assert.Equal(1_048_064, ConnectionLimits.DescriptorBudget(1_048_576));
        Assert.Equal(256, ConnectionLimits.DescriptorBudget(512)); // a small limit keeps half for sockets
    }
}
