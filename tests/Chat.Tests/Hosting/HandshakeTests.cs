using System.Security.Cryptography;
using System.Text;
using Chat.Testing.Network;
using Chat.Testing.Servers;
using Chat.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Hosting;

/// <summary>
/// The WebSocket handshake over raw TCP, answered by the broker itself (<c>Chat.Broker/Handshake</c>, the
/// default) or by Kestrel's HTTP/1.1 (<c>Chat:Broker:OwnHandshake=false</c>): a client sees the same either
/// way, and whatever the broker's strict reading leaves alone still reaches Kestrel and works.
/// </summary>
public sealed class HandshakeTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_first_frame_sent_with_the_handshake_is_answered(bool ownHandshake)
    {
        await using var server = await ChatServer.StartAsync($"Chat:Broker:OwnHandshake={ownHandshake}");
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = RawWebSocket.Over(await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token)); // it owns the socket
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var frame = RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"early\"}"u8);
        byte[] both = [.. RawWebSocket.UpgradeRequest(server.WebSocketUri, key), .. frame];
        await ws.SendAsync(both, timeout.Token);

        var head = await ws.ReadHttpHeadAsync(timeout.Token);
        Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);
        Assert.Contains($"Sec-WebSocket-Accept: {AcceptOf(key)}", head, StringComparison.OrdinalIgnoreCase);
        var answer = await ws.ReceiveAsync(timeout.Token);
        Assert.NotNull(answer);
        Assert.Contains("\"CRT_ACCOUNT_RESP\"", answer.Text, StringComparison.Ordinal);
        Assert.Contains("\"code\":0", answer.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_handshake_the_broker_leaves_to_Kestrel_still_opens_a_socket()
    {
        // A percent-encoded path is not read by the broker's own parser; Kestrel decodes it to /ws.
        await using var server = await ChatServer.StartAsync();
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = await RawWebSocket.ConnectAsync(new UriBuilder(server.WebSocketUri) { Path = "/w%73" }.Uri, timeout.Token);
        await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"decoded\"}"u8), timeout.Token);
        Assert.Contains("\"CRT_ACCOUNT_RESP\"", (await ws.ReceiveAsync(timeout.Token))?.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_page_and_then_a_socket_on_one_kept_alive_connection_both_work()
    {
        await using var server = await ChatServer.StartAsync();
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = RawWebSocket.Over(await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token)); // it owns the socket
        await ws.SendAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {server.HttpUri.Authority}\r\n\r\n"), timeout.Token);
        var page = await ws.ReadHttpHeadAsync(timeout.Token);
        Assert.StartsWith("HTTP/1.1 200", page, StringComparison.Ordinal);
        var length = int.Parse(page!.Split("\r\n").Single(line => line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await ws.ReadBytesAsync(length, timeout.Token);

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await ws.SendAsync(RawWebSocket.UpgradeRequest(server.WebSocketUri, key), timeout.Token);
        Assert.StartsWith("HTTP/1.1 101", await ws.ReadHttpHeadAsync(timeout.Token), StringComparison.Ordinal);
        await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"second\"}"u8), timeout.Token);
        Assert.Contains("\"CRT_ACCOUNT_RESP\"", (await ws.ReceiveAsync(timeout.Token))?.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_handshake_that_never_ends_is_dropped_at_the_handshake_timeout()
    {
        // Longer than the test waits, Kestrel's own header timeout (30 s) would not do it: the broker's does.
        await using var server = await ChatServer.StartAsync("Chat:Broker:HandshakeTimeout=00:00:01");
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = RawWebSocket.Over(await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token)); // it owns the socket
        await ws.SendAsync(Encoding.ASCII.GetBytes($"GET /ws HTTP/1.1\r\nHost: {server.HttpUri.Authority}\r\n"), timeout.Token);
        Assert.Null(await ws.ReadHttpHeadAsync(timeout.Token));
    }

    [Fact]
    public async Task A_page_of_another_origin_gets_403_from_the_broker_s_own_handshake()
    {
        await using var server = await ChatServer.StartAsync();
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = RawWebSocket.Over(await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token)); // it owns the socket
        var request = Encoding.ASCII.GetString(RawWebSocket.UpgradeRequest(server.WebSocketUri, Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))));
        await ws.SendAsync(Encoding.ASCII.GetBytes(request.Replace("\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n", StringComparison.Ordinal)), timeout.Token);
        var head = await ws.ReadHttpHeadAsync(timeout.Token);
        Assert.StartsWith("HTTP/1.1 403", head, StringComparison.Ordinal);
        Assert.Null(await ws.ReadHttpHeadAsync(timeout.Token)); // and the connection ends
    }

    [Theory]
    [InlineData("two Host headers", "Host: {host}\r\nHost: elsewhere\r\n")]
    [InlineData("a folded header line", "Host: {host}\r\nX-Note: a\r\n continued\r\n")]
    [InlineData("a key of 15 bytes", "Host: {host}\r\n", "MTIzNDU2Nzg5MDEyMzQ1")]
    [InlineData("a chunked body", "Host: {host}\r\nTransfer-Encoding: chunked\r\n")]
    public async Task A_handshake_the_broker_does_not_take_gets_Kestrel_s_refusal(string what, string headers, string key = "dGhlIHNhbXBsZSBub25jZQ==")
    {
        await using var server = await ChatServer.StartAsync();
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var ws = RawWebSocket.Over(await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token)); // it owns the socket
        var request = $"GET /ws HTTP/1.1\r\n{headers.Replace("{host}", server.HttpUri.Authority, StringComparison.Ordinal)}" +
            $"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await ws.SendAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        var head = await ws.ReadHttpHeadAsync(timeout.Token);
        Assert.True(head?.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{what}: {head?.Split("\r\n")[0] ?? "no answer"}");
    }

    [Fact]
    public async Task Chat_Http_MaxWebSockets_holds_for_the_process_over_all_its_ports()
    {
        await using var server = await ChatServer.StartAsync("urls=http://127.0.0.1:0;http://127.0.0.1:0", "Chat:Http:MaxWebSockets=1");
        var ports = server.Get<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(address => new Uri(address).Port).Distinct().ToList();
        Assert.Equal(2, ports.Count);
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        using var first = await RawWebSocket.ConnectAsync(new UriBuilder(server.WebSocketUri) { Port = ports[0] }.Uri, timeout.Token);
        var refused = await Assert.ThrowsAsync<IOException>(() => RawWebSocket.ConnectAsync(new UriBuilder(server.WebSocketUri) { Port = ports[1] }.Uri, timeout.Token));
        Assert.Contains("503", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_resets_in_the_middle_of_its_handshake_leaves_no_error_in_the_log()
    {
        var log = new CapturedLog();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<ILoggerProvider>(log));
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        for (var i = 0; i < 5; i++)
        {
            using var socket = await RawWebSocket.ConnectTcpAsync(server.WebSocketUri, timeout.Token);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /ws HTTP/1.1\r\nHost: x\r\n"), System.Net.Sockets.SocketFlags.None, timeout.Token);
            socket.LingerState = new System.Net.Sockets.LingerOption(true, 0); // closed with a reset
            socket.Close();
        }

        // The server still answers a whole handshake afterwards, and has logged nothing at error level for the resets.
        using var ws = await RawWebSocket.ConnectAsync(server.WebSocketUri, timeout.Token);
        await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"after\"}"u8), timeout.Token);
        Assert.Contains("\"CRT_ACCOUNT_RESP\"", (await ws.ReceiveAsync(timeout.Token))?.Text, StringComparison.Ordinal);
        Assert.Empty(log.Errors);
    }

    private static string AcceptOf(string key)
    {
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key
        return Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
    }
}
