using Chat.Logic.Storage;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Tests.Protocol;

/// <summary>
/// Read receipts: a VIEWED_ACK is answered and its receipt pushed without waiting for the store,
/// and a page that comes back learns from RECONNECT_RESP how far its partner has read
/// (<c>sessions[].partnerReadUpTo</c>), even when the receipt itself never reached it.
/// </summary>
public sealed class ReadMarkTests
{
    [Fact]
    public async Task A_viewed_ack_is_answered_and_its_receipt_pushed_while_the_store_is_still_writing_it()
    {
        var store = new GatedStore();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<IChatStore>(store));
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        var said = (await alice.SayAsync(sessionId, "read me")).ULong("msgId");
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ");

        store.Hold(); // the next batch, the read mark's, waits in the store until released
        var viewed = await Viewed(bob, sessionId, said);

        Assert.Equal(0, viewed.Code());
        Assert.Equal(said, (await alice.ExpectAsync("PUSH_VIEWED_ACK_REQ")).ULong("msgId"));
        await store.Held.WaitAsync(TestClient.Timeout);
        Assert.Equal(0UL, (await store.LoadSessionAsync(sessionId, CancellationToken.None))!.Second.ViewedUpTo);

        store.Release();
        Assert.Equal(0, (await alice.SayAsync(sessionId, "after it")).Code()); // committed after the mark, in queue order
        var stored = await store.LoadSessionAsync(sessionId, CancellationToken.None);
        Assert.Equal(said, (stored!.First.Account.Id == bob.AccountId ? stored.First : stored.Second).ViewedUpTo);
    }

    [Fact]
    public async Task A_reconnect_says_how_far_the_partner_read_even_what_was_read_while_away_and_after_a_restart()
    {
        await using var server = await ChatServer.StartAsync("Chat:Logic:GracePeriod=00:05:00");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        var one = (await alice.SayAsync(sessionId, "one")).ULong("msgId");
        var two = (await alice.SayAsync(sessionId, "two")).ULong("msgId");
        var three = (await alice.SayAsync(sessionId, "three")).ULong("msgId");
        await bob.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == three);
        Assert.Equal(0, (await Viewed(bob, sessionId, one)).Code());
        await alice.ExpectAsync("PUSH_VIEWED_ACK_REQ", f => f.ULong("msgId") == one);

        // Alice's socket drops; Bob reads on while she is away: that receipt never reaches her.
        alice.Abort();
        await alice.DisposeAsync();
        await bob.ExpectAsync("PUSH_SIGNAL_REQ", f => f.String("signalType") == "PartnerAway");
        Assert.Equal(0, (await Viewed(bob, sessionId, two)).Code());

        var (aliceBack, resumed) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        Assert.Equal(0, resumed.Code());
        Assert.Equal(two, PartnerReadUpTo(resumed, sessionId));

        // Bob reads the rest, Alice reads Bob's one message; after a restart the marks come from the store.
        var bobs = (await bob.SayAsync(sessionId, "mine")).ULong("msgId");
        await aliceBack.ExpectAsync("PUSH_DIALOGUE_REQ", f => f.ULong("msgId") == bobs);
        Assert.Equal(0, (await Viewed(bob, sessionId, three)).Code());
        Assert.Equal(0, (await Viewed(aliceBack, sessionId, bobs)).Code());
        await aliceBack.ExpectAsync("PUSH_VIEWED_ACK_REQ", f => f.ULong("msgId") == three);
        await bob.ExpectAsync("PUSH_VIEWED_ACK_REQ", f => f.ULong("msgId") == bobs);
        await server.RestartAsync();
        await aliceBack.Closed.WaitAsync(TestClient.Timeout);
        await bob.Closed.WaitAsync(TestClient.Timeout);
        await aliceBack.DisposeAsync();
        await bob.DisposeAsync();

        var (aliceAgain, aliceResumed) = await alice.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var a = aliceAgain;
        var (bobAgain, bobResumed) = await bob.ReconnectOnNewSocketAsync(server.WebSocketUri);
        await using var b = bobAgain;
        Assert.Equal(three, PartnerReadUpTo(aliceResumed, sessionId));
        Assert.Equal(bobs, PartnerReadUpTo(bobResumed, sessionId));
    }

    private static Task<Frame> Viewed(TestClient reader, ulong sessionId, ulong msgId) =>
        reader.RequestAsync(new { cmd = "VIEWED_ACK_REQ", sessionId, accountId = reader.AccountId, msgId }, "VIEWED_ACK_RESP");

    private static ulong PartnerReadUpTo(Frame reconnected, ulong sessionId) => reconnected.Root.GetProperty("sessions").EnumerateArray()
        .Single(s => s.GetProperty("sessionId").GetUInt64() == sessionId).GetProperty("partnerReadUpTo").GetUInt64();
}
