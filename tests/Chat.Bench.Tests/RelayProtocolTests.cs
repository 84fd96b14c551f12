using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Chat.Relay;
using Microsoft.AspNetCore.Builder;

namespace Chat.Bench.Tests;

/// <summary>The relay's own WebSocket handshake and framing, against a real socket.</summary>
public sealed class RelayProtocolTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    // No heartbeat: these tests read the replies in order, and a PING_REQ would come between them.
    private readonly WebApplication relay = RelayApp.Build(port: 0, pingInterval: TimeSpan.Zero);
    private Uri http = null!;

    public async Task InitializeAsync()
    {
        await relay.StartAsync();
        http = new Uri(relay.Urls.First());
    }

    public async Task DisposeAsync() => await relay.DisposeAsync();

    [Fact]
    public async Task A_message_in_fragments_with_a_ping_between_them_is_answered()
    {
        using var client = await RawClient.ConnectAsync(http);

        await client.SendAsync(opcode: 0x1, fin: false, """{"cmd":"CRT_ACC"""u8.ToArray());
        await client.SendAsync(opcode: 0x9, fin: true, "are you there"u8.ToArray());
        await client.SendAsync(opcode: 0x0, fin: false, """OUNT_REQ","nick"""u8.ToArray());
        await client.SendAsync(opcode: 0x0, fin: true, """Name":"frag"}"""u8.ToArray());

        var pong = await client.ReadAsync();
        Assert.Equal((0xA, "are you there"), (pong.Opcode, Encoding.UTF8.GetString(pong.Payload)));
        var reply = await client.ReadAsync();
        Assert.Equal(0x1, reply.Opcode);
        Assert.Contains("\"cmd\":\"CRT_ACCOUNT_RESP\",\"code\":0", Encoding.UTF8.GetString(reply.Payload), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_long_reply_gets_a_16_bit_length()
    {
        using var client = await RawClient.ConnectAsync(http);
        var nick = new string('n', 300);

        await client.SendAsync(opcode: 0x1, fin: true, Encoding.UTF8.GetBytes($$"""{"cmd":"CRT_ACCOUNT_REQ","nickName":"{{nick}}"}"""));

        var reply = await client.ReadAsync();
        Assert.Contains(nick, Encoding.UTF8.GetString(reply.Payload), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("unmasked", 1002)]
    [InlineData("binary", 1003)]
    [InlineData("invalid utf-8", 1007)]
    [InlineData("too big", 1009)]
    [InlineData("continuation of nothing", 1002)]
    [InlineData("close 1000", 1000)]
    public async Task A_bad_frame_or_a_close_gets_a_close_frame_and_the_end(string frame, int status)
    {
        using var client = await RawClient.ConnectAsync(http);

        switch (frame)
        {
            case "unmasked":
                await client.SendAsync(opcode: 0x1, fin: true, "{}"u8.ToArray(), masked: false);
                break;
            case "binary":
                await client.SendAsync(opcode: 0x2, fin: true, [1, 2, 3]);
                break;
            case "invalid utf-8":
                await client.SendAsync(opcode: 0x1, fin: true, [0x7B, 0xC3, 0x28, 0x7D]);
                break;
            case "too big":
                // Only the header: the relay refuses before it waits for the payload.
                await client.SendHeaderAsync(opcode: 0x1, length: RelayConnection.MaxMessageBytes + 1);
                break;
            case "continuation of nothing":
                await client.SendAsync(opcode: 0x0, fin: true, "{}"u8.ToArray());
                break;
            case "close 1000":
                await client.SendAsync(opcode: 0x8, fin: true, [0x03, 0xE8]);
                break;
        }

        var close = await client.ReadAsync();
        Assert.Equal(0x8, close.Opcode);
        Assert.Equal(status, BinaryPrimitives.ReadUInt16BigEndian(close.Payload));
        Assert.True(await client.EndedAsync());
    }

    [Fact]
    public async Task ClientWebSocket_talks_and_closes_cleanly()
    {
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(SmokeRun.WebSocketUri(relay.Urls), timeout.Token);

        // In two fragments, as a browser may send a long message.
        await socket.SendAsync("""{"cmd":"PING_"""u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false, timeout.Token);
        await socket.SendAsync("""REQ","accountId":0}"""u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
        var buffer = new byte[256];
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal("""{"cmd":"PING_RESP","accountId":0}""", Encoding.UTF8.GetString(buffer, 0, result.Count));

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Theory]
    [InlineData("GET /other HTTP/1.1", true, "404")]
    [InlineData("GET /ws HTTP/1.1", false, "400")]
    public async Task A_request_that_is_no_websocket_upgrade_to_ws_is_refused(string requestLine, bool withKey, string status)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(http.Host, http.Port);
        var key = withKey ? "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" : "";
        await socket.SendAsync(Encoding.ASCII.GetBytes($"{requestLine}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"));

        var response = await RawClient.ReadToEndAsync(socket);

        Assert.StartsWith($"HTTP/1.1 {status} ", response, StringComparison.Ordinal);
    }

    /// <summary>A WebSocket client that writes frames by hand, well-formed or not.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly Socket socket;
        private readonly NetworkStream stream;

        private RawClient(Socket socket)
        {
            this.socket = socket;
            stream = new NetworkStream(socket);
        }

        public static async Task<RawClient> ConnectAsync(Uri http)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(http.Host, http.Port);
            var client = new RawClient(socket);
            await client.stream.WriteAsync(Encoding.ASCII.GetBytes(
                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
            var head = new StringBuilder();
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                head.Append((char)await client.ReadByteAsync());
            }

            // The accept value of RFC 6455's own example key.
            Assert.Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", head.ToString(), StringComparison.Ordinal);
            return client;
        }

        public async Task SendAsync(int opcode, bool fin, byte[] payload, bool masked = true)
        {
            var frame = new List<byte> { (byte)((fin ? 0x80 : 0) | opcode) };
            var maskBit = masked ? 0x80 : 0;
            if (payload.Length < 126)
            {
                frame.Add((byte)(maskBit | payload.Length));
            }
            else
            {
                frame.Add((byte)(maskBit | 126));
                frame.Add((byte)(payload.Length >> 8));
                frame.Add((byte)payload.Length);
            }

            byte[] mask = [0x12, 0x34, 0x56, 0x78];
            if (masked)
            {
                frame.AddRange(mask);
            }

            frame.AddRange(payload.Select((b, i) => masked ? (byte)(b ^ mask[i % 4]) : b));
            await stream.WriteAsync(frame.ToArray());
        }

        public async Task SendHeaderAsync(int opcode, int length)
        {
            byte[] header = [(byte)(0x80 | opcode), 0x80 | 127, 0, 0, 0, 0, 0, (byte)(length >> 16), (byte)(length >> 8), (byte)length, 1, 2, 3, 4];
            await stream.WriteAsync(header);
        }

        public async Task<(int Opcode, byte[] Payload)> ReadAsync()
        {
            var b0 = await ReadByteAsync();
            var b1 = await ReadByteAsync();
            Assert.Equal(0x80, b0 & 0xF0); // final, no reserved bits
            Assert.Equal(0, b1 & 0x80); // a server never masks
            var length = b1 & 0x7F;
            if (length == 126)
            {
                length = (await ReadByteAsync() << 8) | await ReadByteAsync();
            }

            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload).AsTask().WaitAsync(Timeout);
            return (b0 & 0x0F, payload);
        }

        /// <summary>True when the relay closed the connection.</summary>
        public async Task<bool> EndedAsync()
        {
            var buffer = new byte[1];
            try
            {
                return await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout) == 0;
            }
            catch (IOException)
            {
                return true;
            }
        }

        public static async Task<string> ReadToEndAsync(Socket socket)
        {
            using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            return await reader.ReadToEndAsync().WaitAsync(Timeout);
        }

        private async Task<int> ReadByteAsync()
        {
            var buffer = new byte[1];
            await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
            return buffer[0];
        }

        public void Dispose()
        {
            stream.Dispose();
            socket.Dispose();
        }
    }
}
