using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Chat.Relay;
using Microsoft.AspNetCore.Builder;

namespace Chat.Bench.Tests;

/// <summary>What the relay does for a crowd besides messages, as the server does: its heartbeat, typing signals, read receipts.</summary>
public sealed class RelayCrowdFramesTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task The_relay_pings_each_socket_with_its_account_and_takes_the_answer()
    {
        await using var relay = RelayApp.Build(port: 0, pingInterval: TimeSpan.FromMilliseconds(200));
        await relay.StartAsync();
        using var alice = await Client.ConnectAsync(relay);
        var account = await alice.CreateAccountAsync("alice");

        var ping = await alice.ReadUntilAsync("PING_REQ");
        Assert.Equal(account, ping.GetProperty("accountId").GetUInt64());
        await alice.SendAsync($$"""{"cmd":"PING_RESP","accountId":{{account}}}""");

        // Still there, and still pinged: the answer was taken, not refused.
        Assert.Equal(account, (await alice.ReadUntilAsync("PING_REQ")).GetProperty("accountId").GetUInt64());
        Assert.Equal(0, alice.Skipped("ERROR_RESP"));
    }

    [Fact]
    public async Task Typing_and_read_receipts_reach_the_partner()
    {
        await using var relay = RelayApp.Build(port: 0, pingInterval: TimeSpan.Zero);
        await relay.StartAsync();
        using var alice = await Client.ConnectAsync(relay);
        using var bob = await Client.ConnectAsync(relay);
        var aliceId = await alice.CreateAccountAsync("alice");
        var bobId = await bob.CreateAccountAsync("bob");
        await alice.SendAsync("""{"cmd":"MATCH_REQ"}""");
        Assert.Equal(4, (await alice.ReadUntilAsync("MATCH_RESP")).GetProperty("code").GetInt32());
        await bob.SendAsync("""{"cmd":"MATCH_REQ"}""");
        var session = (await bob.ReadUntilAsync("MATCH_RESP")).GetProperty("sessionId").GetUInt64();
        await alice.ReadUntilAsync("PUSH_SIGNAL_REQ");

        await alice.SendAsync($$"""{"cmd":"TYPING_REQ","sessionId":{{session}}}""");
        var typing = await bob.ReadUntilAsync("PUSH_SIGNAL_REQ");
        Assert.Equal("Typing", typing.GetProperty("signalType").GetString());
        Assert.Equal(aliceId, typing.GetProperty("data").GetProperty("accountId").GetUInt64());
        Assert.Equal(session, typing.GetProperty("sessionId").GetUInt64());

        await alice.SendAsync($$"""{"cmd":"DIALOGUE_REQ","requestId":"r1","sessionId":{{session}},"content":"hi"}""");
        var msgId = (await bob.ReadUntilAsync("PUSH_DIALOGUE_REQ")).GetProperty("msgId").GetUInt64();
        await bob.SendAsync($$"""{"cmd":"VIEWED_ACK_REQ","sessionId":{{session}},"accountId":{{bobId}},"msgId":{{msgId}}}""");

        Assert.Equal(0, (await bob.ReadUntilAsync("VIEWED_ACK_RESP")).GetProperty("code").GetInt32());
        var receipt = await alice.ReadUntilAsync("PUSH_VIEWED_ACK_REQ");
        Assert.Equal((session, bobId, msgId), (receipt.GetProperty("sessionId").GetUInt64(), receipt.GetProperty("accountId").GetUInt64(), receipt.GetProperty("msgId").GetUInt64()));

        // A read receipt for a session that is not the reader's is refused.
        await bob.SendAsync($$"""{"cmd":"VIEWED_ACK_REQ","sessionId":{{session + 1000}},"msgId":1}""");
        Assert.Equal(1, (await bob.ReadUntilAsync("VIEWED_ACK_RESP")).GetProperty("code").GetInt32());
    }

    private sealed class Client : IDisposable
    {
        private readonly ClientWebSocket socket = new();
        private readonly Dictionary<string, int> skipped = [];

        public static async Task<Client> ConnectAsync(WebApplication relay)
        {
            var client = new Client();
            using var timeout = new CancellationTokenSource(Timeout);
            await client.socket.ConnectAsync(SmokeRun.WebSocketUri(relay.Urls), timeout.Token);
            return client;
        }

        public async Task<ulong> CreateAccountAsync(string nickName)
        {
            await SendAsync($$"""{"cmd":"CRT_ACCOUNT_REQ","nickName":"{{nickName}}"}""");
            return (await ReadUntilAsync("CRT_ACCOUNT_RESP")).GetProperty("accountId").GetUInt64();
        }

        public async Task SendAsync(string json)
        {
            using var timeout = new CancellationTokenSource(Timeout);
            await socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
        }

        /// <summary>The next frame with this cmd; the others before it are counted by cmd.</summary>
        public async Task<JsonElement> ReadUntilAsync(string cmd)
        {
            using var timeout = new CancellationTokenSource(Timeout);
            var buffer = new byte[4096];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.True(result.EndOfMessage);
                var frame = JsonDocument.Parse(buffer.AsMemory(0, result.Count)).RootElement;
                var got = frame.GetProperty("cmd").GetString()!;
                if (got == cmd)
                {
                    return frame;
                }

                skipped[got] = Skipped(got) + 1;
            }
        }

        public int Skipped(string cmd) => skipped.GetValueOrDefault(cmd);

        public void Dispose() => socket.Dispose();
    }
}
