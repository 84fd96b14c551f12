using Chat.Tests.Infrastructure;

namespace Chat.Tests.Security;

/// <summary>The socket is the identity: ids a client sends about itself are checked, never trusted (the seed trusted them).</summary>
public sealed class ImpersonationTests
{
    [Fact]
    public async Task Cannot_post_as_another_account()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        // Bob claims to be Alice in his own session.
        var forged = await bob.RequestAsync(
            new { cmd = "DIALOGUE_REQ", requestId = "f1", senderId = alice.AccountId, sessionId, content = "I am alice" },
            "DIALOGUE_RESP");
        Assert.Equal(1, forged.Code());
        Assert.Equal("f1", forged.String("requestId"));

        await bob.SayAsync(sessionId, "real bob");
        Assert.Equal("real bob", (await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content")); // the forged one never arrived
        Assert.Empty(alice.TakeAll("PUSH_DIALOGUE_REQ"));
    }

    [Fact]
    public async Task Cannot_post_into_another_pairs_session()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, aliceAndBob) = await server.NewPairAsync("alice", "bob");
        var (carol, mallory, _) = await server.NewPairAsync("carol", "mallory");
        await using var a = alice;
        await using var b = bob;
        await using var c = carol;
        await using var m = mallory;

        var intrusion = await mallory.SayAsync(aliceAndBob, "hi from outside");
        Assert.Equal(1, intrusion.Code());
        var typing = mallory.SendAsync(new { cmd = "TYPING_REQ", sessionId = aliceAndBob });
        await typing;
        var leave = await mallory.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId = aliceAndBob }, "END_SESSION_RESP");
        Assert.Equal(1, leave.Code());

        // Alice and Bob's session is untouched and received nothing from Mallory.
        await alice.SayAsync(aliceAndBob, "still here");
        Assert.Equal("still here", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));
        await bob.BarrierAsync();
        Assert.DoesNotContain(bob.Snapshot(), f => f.Cmd == "PUSH_SIGNAL_REQ");
        Assert.DoesNotContain(alice.Snapshot(), f => f.Cmd == "PUSH_SIGNAL_REQ");
    }

    [Fact]
    public async Task Cannot_read_ack_for_another_account_or_session()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync("alice", "bob");
        var (carol, mallory, _) = await server.NewPairAsync("carol", "mallory");
        await using var a = alice;
        await using var b = bob;
        await using var c = carol;
        await using var m = mallory;
        var msgId = (await alice.SayAsync(sessionId, "secret")).ULong("msgId");

        // Alice acks as Bob in her own session; Mallory acks in a session that is not hers.
        var asBob = await alice.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = bob.AccountId, msgId }, "VIEWED_ACK_RESP");
        Assert.Equal(1, asBob.Code());
        var outsider = await mallory.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = mallory.AccountId, msgId }, "VIEWED_ACK_RESP");
        Assert.Equal(1, outsider.Code());

        await alice.BarrierAsync();
        Assert.Empty(alice.TakeAll("PUSH_VIEWED_ACK_REQ"));
        Assert.Empty(bob.TakeAll("PUSH_VIEWED_ACK_REQ"));
    }

    [Fact]
    public async Task Cannot_match_or_act_for_another_account()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("alice");
        await using var mallory = await server.NewVisitorAsync("mallory");

        var asAlice = await mallory.RequestAsync(new { cmd = "MATCH_REQ", accountId = alice.AccountId }, "MATCH_RESP");
        Assert.Equal(1, asAlice.Code());
        var stats = await mallory.RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP");
        Assert.Equal(0, stats.Root.GetProperty("waiting").GetInt32()); // no one was put in the pool
    }

    [Fact]
    public async Task A_socket_without_an_account_can_do_nothing_but_create_or_reconnect()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        await using var anonymous = await server.ConnectAsync();

        Assert.Equal(1, (await anonymous.RequestAsync(new { cmd = "MATCH_REQ", accountId = alice.AccountId }, "MATCH_RESP")).Code());
        Assert.Equal(1, (await anonymous.RequestAsync(new { cmd = "DIALOGUE_REQ", requestId = "x", senderId = alice.AccountId, sessionId, content = "hi" }, "DIALOGUE_RESP")).Code());
        Assert.Equal(1, (await anonymous.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = alice.AccountId, msgId = 1 }, "VIEWED_ACK_RESP")).Code());
        await bob.BarrierAsync();
        Assert.Empty(bob.TakeAll("PUSH_DIALOGUE_REQ"));
    }

    [Fact]
    public async Task A_socket_keeps_its_account()
    {
        await using var server = await ChatServer.StartAsync();
        await using var alice = await server.NewVisitorAsync("alice");
        await using var bob = await server.NewVisitorAsync("bob");

        var second = await alice.RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName = "alice2" }, "CRT_ACCOUNT_RESP");
        Assert.Equal(1, second.Code());
        var takeover = await alice.RequestAsync(new { cmd = "RECONNECT_REQ", accountId = bob.AccountId, token = bob.Token }, "RECONNECT_RESP");
        Assert.Equal(1, takeover.Code());
    }
}
