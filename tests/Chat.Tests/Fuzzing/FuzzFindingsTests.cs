using Chat.Tests.Infrastructure;

namespace Chat.Tests.Fuzzing;

/// <summary>What the fuzz tests found wrong, each pinned over a real socket so it stays fixed.</summary>
public sealed class FuzzFindingsTests
{
    // "confirmReceipt" with every character escaped is 84 bytes: the parser used to give up on
    // escaped keys over 64 bytes and skip it as unknown, so a wrong type there went unnoticed.
    private const string ConfirmReceiptEscaped = "\\u0063\\u006f\\u006e\\u0066\\u0069\\u0072\\u006d\\u0052\\u0065\\u0063\\u0065\\u0069\\u0070\\u0074";

    [Fact]
    public async Task A_key_with_every_character_escaped_is_still_that_key()
    {
        await using var server = await ChatServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.SendTextAsync($"{{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"fuzz\",\"{ConfirmReceiptEscaped}\":\"yes\"}}");

        var reply = await client.ExpectAsync("CRT_ACCOUNT_RESP");
        Assert.Equal(1, reply.Code());
        Assert.Contains("confirmReceipt", reply.String("msg"));
    }

    [Fact]
    public async Task A_key_with_a_lone_surrogate_is_an_unknown_key_and_ignored()
    {
        await using var server = await ChatServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.SendTextAsync("{\"cmd\":\"STATS_REQ\",\"\\uD800\":1}");

        Assert.Equal(0, (await client.ExpectAsync("STATS_RESP")).Code());
    }

    // TYPING_REQ has no response, and the dispatcher dropped a malformed one silently too, where
    // docs/protocol.md promises code 1 (ERROR_RESP, the command having no response of its own).
    [Fact]
    public async Task A_typing_hint_without_an_account_or_a_session_or_from_another_account_gets_ERROR_RESP_code_1()
    {
        await using var server = await ChatServer.StartAsync();
        await using var stranger = await server.ConnectAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        await stranger.SendAsync(new { cmd = "TYPING_REQ", sessionId });
        Assert.Equal(1, (await stranger.ExpectAsync("ERROR_RESP")).Code());
        await alice.SendAsync(new { cmd = "TYPING_REQ" });
        Assert.Equal(1, (await alice.ExpectAsync("ERROR_RESP")).Code());
        await alice.SendAsync(new { cmd = "TYPING_REQ", sessionId, accountId = bob.AccountId });
        Assert.Equal(1, (await alice.ExpectAsync("ERROR_RESP")).Code());

        // A good one is still answered by nothing but the partner's signal.
        await alice.SendAsync(new { cmd = "TYPING_REQ", sessionId });
        Assert.Equal(alice.AccountId, (await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "Typing")).DataAccountId);
        await alice.BarrierAsync();
        Assert.Empty(alice.TakeAll("ERROR_RESP"));
    }
}
