using System.Net.WebSockets;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Abuse;

/// <summary>
/// Ways to pass for many addresses, over real sockets: X-Forwarded-For from a peer nobody trusts, a
/// forged entry ahead of the one a trusted proxy adds, an IPv4 address written as IPv6, and more
/// addresses of one IPv6 /64.
/// </summary>
public sealed class AddressAttackTests
{
    [Fact]
    public async Task X_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_counts_for_nothing()
    {
        await using var server = await ChatServer.StartAsync("Chat:Limits:SocketsPerAddress=2");
        await using var first = await AdmittedAsync(server.WebSocketUri, "203.0.113.1");
        await using var second = await AdmittedAsync(server.WebSocketUri, "203.0.113.2");
        await using var third = await TestClient.ConnectAsync(server.WebSocketUri, null, ("X-Forwarded-For", "203.0.113.3"));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.Closed.WaitAsync(TestClient.Timeout));
    }

    [Theory]
    [InlineData("198.51.100.7", "::ffff:198.51.100.7", "203.0.113.1, 198.51.100.7")] // IPv4 as IPv6; a forged entry before the proxy's own
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "[2001:db8:1:2:abcd::1]:443")] // one /64
    public async Task Spellings_of_one_address_through_a_trusted_proxy_count_as_that_address(string one, string same, string sameAgain)
    {
        await using var server = await LimitedServer.StartAsync("Chat:Limits:SocketsPerAddress=2");
        await using var first = await AdmittedAsync(server.Server.WebSocketUri, one);
        await using var second = await AdmittedAsync(server.Server.WebSocketUri, same);
        await using var third = await server.ConnectAsync(sameAgain);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.Closed.WaitAsync(TestClient.Timeout));
        await using var elsewhere = await AdmittedAsync(server.Server.WebSocketUri, "192.0.2.1");
    }

    private static async Task<TestClient> AdmittedAsync(Uri uri, string forwardedFor)
    {
        var client = await TestClient.ConnectAsync(uri, null, ("X-Forwarded-For", forwardedFor));
        await client.BarrierAsync();
        return client;
    }
}
