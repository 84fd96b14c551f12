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
}
