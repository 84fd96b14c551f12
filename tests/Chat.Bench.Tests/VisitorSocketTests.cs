using System.Net;
using System.Net.Sockets;
using System.Text;
using Chat.Bench.Connections;

namespace Chat.Bench.Tests;

/// <summary>The bench's own WebSocket client against a hand-written server end.</summary>
public sealed class VisitorSocketTests
{
    [Fact]
    public async Task It_upgrades_masks_what_it_sends_and_puts_fragments_back_together()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = new Uri($"ws://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/ws");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var connecting = new VisitorConnector(server, sourceAddresses: 0).OpenAsync(64, timeout.Token);
        using var accepted = await listener.AcceptSocketAsync(timeout.Token);
        var request = await ReadUntilAsync(accepted, "\r\n\r\n", timeout.Token);
        var key = request.Split("\r\n").Single(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.Ordinal))[18..].Trim();
#pragma warning disable CA5350 // RFC 6455's accept key.
        var accept = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        // The 101 and the first frames in one write: the client must keep what follows the headers.
        await accepted.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
            .Concat(Frame(0x1, fin: false, "{\"cmd\":"u8)).Concat(Frame(0x9, fin: true, "p"u8)).Concat(Frame(0x0, fin: true, new string('x', 2000)))
            .ToArray(), timeout.Token);
        using var client = await connecting;

        var messages = new List<(WebSocketOpcode, string)>();
        while (messages.Count < 2 && client.Received(await client.ReceiveAsync()))
        {
            while (client.TryTake(out var incoming))
            {
                messages.Add((incoming.Opcode, Encoding.UTF8.GetString(incoming.Payload.Span)));
            }
        }

        Assert.Equal([(WebSocketOpcode.Ping, "p"), (WebSocketOpcode.Text, "{\"cmd\":" + new string('x', 2000))], messages);

        var frame = new byte[VisitorSocket.HeaderRoom + 300];
        "hello"u8.CopyTo(frame.AsSpan(VisitorSocket.HeaderRoom));
        await client.SendAsync(frame, 5);
        var sent = new byte[11];
        await ReadExactlyAsync(accepted, sent, timeout.Token);
        Assert.Equal(0x81, sent[0]);
        Assert.Equal(0x80 | 5, sent[1]);
        var unmasked = sent[6..].Select((b, i) => (byte)(b ^ sent[2 + (i % 4)])).ToArray();
        Assert.Equal("hello", Encoding.ASCII.GetString(unmasked));
    }

    private static byte[] Frame(int opcode, bool fin, ReadOnlySpan<byte> payload)
    {
        List<byte> frame = [(byte)((fin ? 0x80 : 0) | opcode)];
        if (payload.Length < 126)
        {
            frame.Add((byte)payload.Length);
        }
        else
        {
            frame.AddRange([126, (byte)(payload.Length >> 8), (byte)payload.Length]);
        }

        frame.AddRange(payload.ToArray());
        return [.. frame];
    }

    private static byte[] Frame(int opcode, bool fin, string payload) => Frame(opcode, fin, Encoding.ASCII.GetBytes(payload));

    private static async Task<string> ReadUntilAsync(Socket socket, string end, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var one = new byte[1];
        while (!text.ToString().EndsWith(end, StringComparison.Ordinal))
        {
            await ReadExactlyAsync(socket, one, cancellationToken);
            text.Append((char)one[0]);
        }

        return text.ToString();
    }

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken);
            Assert.NotEqual(0, n);
            read += n;
        }
    }
}
