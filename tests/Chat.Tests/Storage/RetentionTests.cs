using System.Diagnostics;
using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Storage;

/// <summary>The running server deletes an ended chat once Chat:Store:Retention has passed on its clock (what exactly is deleted: the store contract suite).</summary>
public sealed class RetentionTests
{
    [Fact]
    public async Task An_ended_chat_is_deleted_by_the_running_server_once_the_retention_has_passed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ChatServer.StartWithClockAsync(clock, "Chat:Store:Retention=00:10:00", "Chat:Store:RetentionSweepInterval=00:00:01");
        var store = server.Get<IChatStore>();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "soon forgotten")).Code());
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        Assert.Equal(0, (await alice.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId }, "END_SESSION_RESP")).Code());
        Assert.Single(await store.ReadMessagesForAsync(sessionId, bob.AccountId, 0, 10, CancellationToken.None));

        clock.Advance(TimeSpan.FromMinutes(11));

        // The sweep runs on its own timer: wait, bounded, for its effect.
        var waited = Stopwatch.StartNew();
        while (await store.LoadSessionAsync(sessionId, CancellationToken.None) is not null)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(15), "the ended session was not deleted");
            await Task.Delay(20);
        }

        Assert.Empty(await store.ReadMessagesForAsync(sessionId, bob.AccountId, 0, 10, CancellationToken.None));
        Assert.NotNull(await store.FindAccountAsync(alice.AccountId, CancellationToken.None)); // gone only since the clock jumped
    }
}
