using Chat.Logic.Storage;
using Chat.Protocol.Limits;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Time;

/// <summary>Time-driven rules checked against an injected clock, so nothing sleeps and the edges are exact.</summary>
public sealed class ClockTests
{
    [Fact]
    public void The_token_bucket_allows_a_burst_then_refills_at_its_rate()
    {
        var clock = new FakeTimeProvider();
        var bucket = new TokenBucket(perSecond: 2, burst: 3, clock);

        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());

        clock.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(bucket.TryTake());
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());

        clock.Advance(TimeSpan.FromHours(1)); // never more than the burst
        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());
    }

    [Fact]
    public async Task The_partner_is_told_only_when_the_whole_grace_period_has_passed()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ChatServer.StartWithClockAsync(clock);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;

        bob.Abort();
        await bob.DisposeAsync();
        await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");

        // Alice stays alive (a frame every 3 s) while the clock runs to 29 s.
        for (var second = 0; second < 29; second = Math.Min(29, second + 3))
        {
            clock.Advance(TimeSpan.FromSeconds(Math.Min(3, 29 - second)));
            await alice.BarrierAsync();
        }

        Assert.Equal(0, (await alice.SayAsync(sessionId, "still waiting for you")).Code());
        Assert.DoesNotContain(alice.Snapshot(), f => f.String("signalType") == "PartnerExit");

        clock.Advance(TimeSpan.FromSeconds(1));
        var exit = await alice.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(bob.AccountId, exit.DataAccountId);
    }

    [Fact]
    public async Task The_heartbeat_drops_a_socket_silent_past_the_timeout_and_keeps_one_that_answers()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ChatServer.StartWithClockAsync(clock, "Chat:Logic:GracePeriod=00:00:00");
        var (alice, bob, _) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        alice.AnswerPings = false;

        // Bob answers each ping; Alice stays silent. 18 s in 3 s steps: nobody is dropped yet.
        for (var second = 3; second <= 18; second += 3)
        {
            clock.Advance(TimeSpan.FromSeconds(3));
            await alice.ExpectAsync("PING_REQ");
            await bob.BarrierAsync();
        }

        Assert.False(alice.Closed.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(3)); // 21 s of silence > 20 s
        await alice.Closed.WaitAsync(TestClient.Timeout);
        var exit = await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerExit");
        Assert.Equal(alice.AccountId, exit.DataAccountId);
    }

    [Fact]
    public async Task A_slow_answer_is_not_the_clients_silence()
    {
        var clock = new FakeTimeProvider();
        var store = new GatedStore();
        await using var server = await ChatServer.StartWithServicesAsync(
            services => services.AddSingleton<TimeProvider>(clock).AddSingleton<IChatStore>(store),
            "Chat:Logic:GracePeriod=00:00:00");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        // The store stalls while Alice's message is being written; her client stays healthy.
        store.Hold();
        await alice.SendAsync(new { cmd = "DIALOGUE_REQ", requestId = "slow", senderId = alice.AccountId, sessionId, content = "hello?" });
        await store.Held.WaitAsync(TestClient.Timeout);

        // 30 s pass (the silence timeout is 20 s). Alice's pongs wait unread behind her request.
        for (var second = 3; second <= 30; second += 3)
        {
            clock.Advance(TimeSpan.FromSeconds(3));
            await bob.BarrierAsync();
        }

        Assert.False(alice.Closed.IsCompleted);
        store.Release();
        Assert.Equal(0, (await alice.ExpectAsync("DIALOGUE_RESP")).Code());
        Assert.Equal("hello?", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
    }
}
