using System.Net;
using System.Net.WebSockets;
using System.Text;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Security;

/// <summary>
/// Every class of bad input gets an error code or a closed socket, never a crash, never a stored
/// half-message, and never an effect on other clients: each test ends with another pair chatting.
/// </summary>
public sealed class BadInputTests
{
    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"cmd\": \"MATCH_REQ\"")]
    [InlineData("[1, 2, 3]")]
    [InlineData("\"CRT_ACCOUNT_REQ\"")]
    [InlineData("42")]
    [InlineData("{} {}")]
    [InlineData("")]
    public async Task Malformed_frames_get_ERROR_RESP_and_the_socket_stays_usable(string text)
    {
        await using var server = await ChatServer.StartAsync();
        await using var bystanders = await ChattingPair.StartAsync(server);
        await using var client = await server.NewVisitorAsync("client");

        await client.SendTextAsync(text);
        var error = await client.ExpectAsync("ERROR_RESP");
        Assert.Equal(1, error.Code());
        Assert.Equal(client.AccountId, (await client.RequestAsync(new { cmd = "PING_REQ" }, "PING_RESP")).ULong("accountId"));
        await bystanders.AssertStillChattingAsync();
    }

    [Theory]
    [InlineData("{\"cmd\":\"NO_SUCH_CMD\"}", "unknown cmd")]
    [InlineData("{\"nickName\":\"x\"}", "missing cmd")]
    [InlineData("{\"cmd\":17}", "missing cmd")]
    public async Task Unknown_or_missing_commands_get_ERROR_RESP(string text, string message)
    {
        await using var server = await ChatServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendTextAsync(text);
        var error = await client.ExpectAsync("ERROR_RESP");
        Assert.Equal(1, error.Code());
        Assert.Contains(message.Split(' ')[0], error.String("msg"));
    }

    [Fact]
    public async Task Missing_or_mistyped_fields_get_the_commands_response_with_ParamErr_and_store_nothing()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        var cases = new (string Frame, string Response)[]
        {
            ("{\"cmd\":\"CRT_ACCOUNT_REQ\"}", "CRT_ACCOUNT_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r1\",\"sessionId\":{sessionId}}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r2\",\"content\":\"no session\"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"sessionId\":{sessionId},\"content\":\"no request id\"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r3\",\"sessionId\":\"{sessionId}\",\"content\":\"id as text\"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r4\",\"sessionId\":{sessionId},\"content\":{{\"html\":\"<b>\"}}}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r5\",\"sessionId\":-1,\"content\":\"negative\"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r6\",\"sessionId\":1.5,\"content\":\"fraction\"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"r7\",\"sessionId\":{sessionId},\"content\":\"   \"}}", "DIALOGUE_RESP"),
            ($"{{\"cmd\":\"VIEWED_ACK_REQ\",\"sessionId\":{sessionId}}}", "VIEWED_ACK_RESP"),
            ("{\"cmd\":\"RECONNECT_REQ\",\"accountId\":1}", "RECONNECT_RESP"),
            ("{\"cmd\":\"RECONNECT_REQ\",\"token\":\"abc\"}", "RECONNECT_RESP"),
            ("{\"cmd\":\"MATCH_REQ\",\"accountId\":\"me\"}", "MATCH_RESP"),
        };

        foreach (var (frame, response) in cases)
        {
            await alice.SendTextAsync(frame);
            var reply = await alice.ExpectAsync(response);
            Assert.True(reply.Code() == 1, $"{frame} -> {reply}");
        }

        await alice.BarrierAsync();
        Assert.Empty(bob.TakeAll("PUSH_DIALOGUE_REQ"));
        await alice.SayAsync(sessionId, "fine");
        Assert.Equal("fine", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }

    [Fact]
    public async Task Keys_match_case_insensitively_and_unknown_fields_are_ignored()
    {
        await using var server = await ChatServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendTextAsync("{\"CMD\":\"CRT_ACCOUNT_REQ\",\"NICKNAME\":\"Zoe\",\"extra\":{\"deep\":[1,2,{\"x\":null}]},\"more\":true}");
        var created = await client.ExpectAsync("CRT_ACCOUNT_RESP");
        Assert.Equal(0, created.Code());
        Assert.Equal("Zoe", created.String("nickName"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("this nickname is far longer than thirty characters")]
    [InlineData("bell\u0007")]
    public async Task Bad_nicknames_get_ParamErr(string nickName)
    {
        await using var server = await ChatServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var reply = await client.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName }, "CRT_ACCOUNT_RESP");
        Assert.Equal(1, reply.Code());
        Assert.False(reply.Has("accountId"));
    }

    [Fact]
    public async Task Content_length_is_limited_in_characters()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        Assert.Equal(0, (await alice.SayAsync(sessionId, new string('x', 1000))).Code());
        Assert.Equal(0, (await alice.SayAsync(sessionId, string.Concat(Enumerable.Repeat("😀", 1000)))).Code()); // 1000 characters, 2000 UTF-16 units
        Assert.Equal(1, (await alice.SayAsync(sessionId, new string('x', 1001))).Code());
        Assert.Equal(1, (await alice.SayAsync(sessionId, string.Empty)).Code());

        Assert.Equal(1000, (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content")!.Length);
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        await alice.BarrierAsync();
        Assert.Empty(bob.TakeAll("PUSH_DIALOGUE_REQ"));
    }

    [Fact]
    public async Task A_binary_frame_closes_the_socket_with_1003()
    {
        await using var server = await ChatServer.StartAsync();
        await using var bystanders = await ChattingPair.StartAsync(server);
        await using var client = await server.NewVisitorAsync("client");

        await client.SendRawAsync([1, 2, 3], WebSocketMessageType.Binary);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await client.Closed.WaitAsync(TestClient.Timeout));
        await bystanders.AssertStillChattingAsync();
    }

    [Fact]
    public async Task An_oversized_frame_closes_the_socket_with_1009_and_stores_nothing()
    {
        await using var server = await ChatServer.StartAsync();
        await using var bystanders = await ChattingPair.StartAsync(server);
        var (alice, bob, sessionId) = await server.NewPairAsync("alice", "bob");
        await using var a = alice;
        await using var b = bob;

        var huge = $"{{\"cmd\":\"DIALOGUE_REQ\",\"requestId\":\"big\",\"sessionId\":{sessionId},\"content\":\"{new string('x', 20_000)}\"}}";
        await alice.SendTextAsync(huge);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await alice.Closed.WaitAsync(TestClient.Timeout));

        // The sender's chat ended (a closed socket leaves on purpose); nothing reached Bob.
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Empty(bob.TakeAll("PUSH_DIALOGUE_REQ"));
        await bystanders.AssertStillChattingAsync();
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_dropped_and_holds_up_no_one()
    {
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000", "Chat:Broker:SendQueueLength=64");
        await using var bystanders = await ChattingPair.StartAsync(server);
        var (alice, bob, sessionId) = await server.NewPairAsync("alice", "bob");
        await using var a = alice;
        await using var b = bob;

        // Bob's tab freezes. Alice talks on: his socket buffers fill, then his queue of 64 frames,
        // and the server drops his socket rather than hold her messages or anyone's memory for him.
        bob.StopReading();
        var content = new string('x', 1000);
        for (var i = 0; i < 40_000 && !alice.Snapshot().Any(IsPartnerAway); i++)
        {
            await alice.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = $"r{i}", senderId = alice.AccountId, sessionId, content });
            if (i % 50 == 49)
            {
                await alice.BarrierAsync(); // Alice reads her acks: at most 50 are ever queued for her
            }
        }

        var away = await alice.ExpectAsync("PUSH_SIGNAL_REQ", IsPartnerAway);
        Assert.Equal(bob.AccountId, away.DataAccountId);
        await bystanders.AssertStillChattingAsync();

        static bool IsPartnerAway(Frame f) => f.Cmd == "PUSH_SIGNAL_REQ" && f.String("signalType") == "PartnerAway";
    }

    [Fact]
    public async Task A_flood_is_answered_with_RateLimited_then_closed_with_1008()
    {
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1", "Chat:Broker:RateLimit:Burst=5", "Chat:Broker:RateLimit:MaxRefusedInARow=20");
        await using var bystanders = await ChattingPair.StartAsync(server);
        await using var flooder = await server.ConnectAsync();

        for (var i = 0; i < 40 && flooder.Closed.IsCompleted == false; i++)
        {
            try
            {
                await flooder.SendAsync(new { cmd = "STATS_REQ" });
            }
            catch (WebSocketException)
            {
                break; // closed under us
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await flooder.Closed.WaitAsync(TestClient.Timeout));
        var limited = flooder.Snapshot().Where(f => f.Cmd == "STATS_RESP").ToList();
        Assert.Contains(limited, f => f.Code() == 5);
        Assert.Contains(limited, f => f.Code() == 0);
        await bystanders.AssertStillChattingAsync();
    }

    [Fact]
    public async Task When_a_flooder_is_closed_its_partners_next_message_finds_the_chat_ended_instead_of_a_success_that_never_arrives()
    {
        await using var server = await ChatServer.StartAsync(
            "Chat:Broker:RateLimit:PerSecond=1", "Chat:Broker:RateLimit:Burst=5", "Chat:Broker:RateLimit:MaxRefusedInARow=3");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        for (var i = 0; i < 20 && !alice.Closed.IsCompleted; i++)
        {
            try
            {
                await alice.SendAsync(new { cmd = "STATS_REQ" });
            }
            catch (WebSocketException)
            {
                break; // closed under us
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await alice.Closed.WaitAsync(TestClient.Timeout));
        Assert.Equal(4, (await bob.SayAsync(sessionId, "are you still there?")).Code());
        var exit = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(alice.AccountId, exit.DataAccountId);
    }

    [Fact]
    public async Task Invalid_utf8_closes_that_socket_with_1007_and_only_that_socket()
    {
        await using var server = await ChatServer.StartAsync();
        await using var bystanders = await ChattingPair.StartAsync(server);
        await using var client = await server.ConnectAsync();
        await client.SendRawAsync([0x7b, 0xff, 0xfe, 0x7d], WebSocketMessageType.Text);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, await client.Closed.WaitAsync(TestClient.Timeout));
        await bystanders.AssertStillChattingAsync();
    }

    [Fact]
    public async Task A_foreign_browser_origin_is_refused_and_same_host_or_no_origin_is_allowed()
    {
        await using var server = await ChatServer.StartAsync();
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => server.ConnectAsync("https://evil.example"));
        Assert.Contains("403", refused.Message + refused.InnerException?.Message, StringComparison.Ordinal);

        await using var sameHost = await server.ConnectAsync($"http://{server.HttpUri.Authority}");
        await sameHost.CreateAccountAsync("browser");
        await using var noOrigin = await server.ConnectAsync();
        await noOrigin.CreateAccountAsync("tool");
    }

    [Fact]
    public async Task The_origin_allow_list_admits_listed_origins_and_star_admits_any()
    {
        await using (var server = await ChatServer.StartAsync("Chat:Broker:AllowedOrigins:0=https://chat.example.org"))
        {
            await using var listed = await server.ConnectAsync("https://chat.example.org");
            await listed.CreateAccountAsync("listed");
            await Assert.ThrowsAsync<WebSocketException>(() => server.ConnectAsync($"http://{server.HttpUri.Authority}"));
        }

        await using (var server = await ChatServer.StartAsync("Chat:Broker:AllowedOrigins:0=*"))
        {
            await using var any = await server.ConnectAsync("https://anything.example");
            await any.CreateAccountAsync("any");
        }
    }

    [Fact]
    public async Task Plain_http_to_the_socket_path_is_a_bad_request()
    {
        await using var server = await ChatServer.StartAsync();
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(server.HttpUri, "/ws"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}

/// <summary>Two bystanders mid-chat: after a bad client did its worst, they must still chat.</summary>
internal sealed class ChattingPair : IAsyncDisposable
{
    private readonly TestClient _a;
    private readonly TestClient _b;
    private readonly ulong _sessionId;

    private ChattingPair(TestClient a, TestClient b, ulong sessionId) => (_a, _b, _sessionId) = (a, b, sessionId);

    public static async Task<ChattingPair> StartAsync(ChatServer server)
    {
        var (a, b, sessionId) = await server.NewPairAsync("bystander-a", "bystander-b");
        return new ChattingPair(a, b, sessionId);
    }

    public async Task AssertStillChattingAsync()
    {
        var text = $"still fine {Guid.NewGuid()}";
        Assert.Equal(0, (await _a.SayAsync(_sessionId, text)).Code());
        Assert.Equal(text, (await _b.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == text)).String("content"));
        Assert.Equal(0, (await _b.SayAsync(_sessionId, text)).Code());
        await _a.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == text);
        Assert.DoesNotContain(_a.TakeAll("PUSH_SIGNAL_REQ"), f => f.String("signalType") == "PartnerExit");
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }
}
