using Chat.Tests.Infrastructure;
using Chat.Testing.Databases;

namespace Chat.Tests.Delivery;

/// <summary>
/// A DIALOGUE_REQ sent again with its requestId is the first message, however many messages of its
/// session came in between: the sender gets the first msgId and the partner gets the message once.
/// The same on every store, long after the session grain's own cache of the sender's last requestIds.
/// </summary>
public sealed class RetryWindowTests
{
    private const int Later = 150; // Alice's own: more than the grain keeps per sender (128), and more than the 64 the SQLite writer once kept per session

    private static readonly string[] NoRateLimit = ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000"];

    [Theory]
    [InlineData("sqlite")]
    [InlineData("memory")]
    [InlineData("mariadb")]
    public async Task A_send_retried_after_150_later_messages_of_its_session_gets_its_first_msgId_and_arrives_once(string store)
    {
        string[] settings = store == "mariadb"
            ? [.. NoRateLimit, "Chat:Store:Kind=mariadb", $"Chat:Store:ConnectionString={(await (await MariaDbServer.Shared).CreateDatabaseAsync()).ConnectionString}"]
            : [.. NoRateLimit, $"Chat:Store:Kind={store}"];
        await using var server = await ChatServer.StartAsync(settings);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        var first = await alice.SayAsync(sessionId, "the first", requestId: "the-first");
        Assert.Equal(0, first.Code());
        Assert.Equal(first.ULong("msgId"), (await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.String("content") == "the first")).ULong("msgId"));

        // Alice's client never heard the answer and goes on, and so does Bob: 180 later messages.
        for (var i = 0; i < Later; i++)
        {
            await SayAndDeliverAsync(alice, bob, $"later {i}");
            if (i % 5 == 4)
            {
                await SayAndDeliverAsync(bob, alice, $"bob's {i}");
            }
        }

        var retried = await alice.SayAsync(sessionId, "the first", requestId: "the-first");

        Assert.Equal(0, retried.Code());
        Assert.Equal(first.ULong("msgId"), retried.ULong("msgId"));
        var marker = await alice.SayAsync(sessionId, "marker", requestId: "marker");
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == marker.ULong("msgId"));
        Assert.DoesNotContain(bob.Snapshot(), f => f.Cmd == "PUSH_DIALOGUE_REQ" && f.String("content") == "the first"); // its one push was taken above

        async Task SayAndDeliverAsync(TestClient writer, TestClient reader, string content)
        {
            var said = await writer.SayAsync(sessionId, content, requestId: content);
            Assert.Equal(0, said.Code());
            await reader.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == said.ULong("msgId"));
        }
    }
}
