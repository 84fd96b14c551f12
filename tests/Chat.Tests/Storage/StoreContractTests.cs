using Chat.Logic.Storage;
using Chat.Protocol.Seams;
using Chat.Testing;

namespace Chat.Tests.Storage;

/// <summary>
/// What every <see cref="IChatStore"/> keeps, whatever its engine (the guarantees IChatStore states,
/// each at its edge): the grains rebuild themselves from these reads, so each behaviour here is one
/// they rely on. A subclass per engine runs it: SQLite on a file, MariaDB on a real mariadbd, memory.
/// </summary>
public abstract partial class StoreContractTests
{
    private const ulong Alice = 1, Bob = 2, Carol = 3, Dave = 4, Erin = 5;
    private const ulong Talk = 10, Other = 11, Third = 12, Fourth = 13;
    private static readonly ClientEndpoint OnNorth = new("north", 41), OnSouth = new("south", 42);
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>A fresh, initialized store on a database of its own; called at most once per test.</summary>
    private protected abstract Task<IChatStore> OpenAsync();

    /// <summary>Another initialized store instance on the database <see cref="OpenAsync"/> made, as a second process (or a restart) would open it.</summary>
    private protected abstract Task<IChatStore> OpenAgainAsync();

    /// <summary>Makes <paramref name="nextId"/> the next id of the kind the store hands out; an engine may set its counter directly instead.</summary>
    private protected virtual async Task MoveNextIdToAsync(IChatStore store, IdKind kind, ulong nextId)
    {
        var next = await store.ReserveIdsAsync(kind, 1, None) + 1;
        while (next < nextId)
        {
            var count = (int)Math.Min(nextId - next, int.MaxValue);
            next = await store.ReserveIdsAsync(kind, count, None) + (ulong)count;
        }

        Assert.Equal(nextId, next);
    }

    // Accounts

    [Fact]
    public async Task A_new_account_is_found_with_everything_it_was_created_with()
    {
        await using var store = await OpenAsync();
        var bound = Account(Alice, OnNorth);
        var away = Account(Bob, endpoint: null, awaySince: 1_500);
        await WriteAsync(store, new StoreWrite.NewAccount(bound), new StoreWrite.NewAccount(away));

        AssertAccount(bound, await store.FindAccountAsync(Alice, None));
        AssertAccount(away, await store.FindAccountAsync(Bob, None));
        Assert.Null(await store.FindAccountAsync(Carol, None));
    }

    [Fact]
    public async Task Binding_an_account_sets_its_endpoint_and_ends_its_away_time()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, new StoreWrite.NewAccount(Account(Alice, endpoint: null, awaySince: 1_500)));

        await WriteAsync(store, new StoreWrite.AccountBound(Alice, OnSouth));

        var found = await store.FindAccountAsync(Alice, None);
        Assert.NotNull(found);
        Assert.Equal(OnSouth, found.Endpoint);
        Assert.Null(found.AwaySinceUnixMs);
    }

    [Fact]
    public async Task Unbinding_an_account_clears_its_endpoint_and_sets_or_clears_its_away_time()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, new StoreWrite.NewAccount(Account(Alice, OnNorth)));

        await WriteAsync(store, new StoreWrite.AccountUnbound(Alice, 2_000, 2_000));
        var lost = await store.FindAccountAsync(Alice, None);
        Assert.NotNull(lost);
        Assert.Null(lost.Endpoint);
        Assert.Equal(2_000, lost.AwaySinceUnixMs);

        await WriteAsync(store, new StoreWrite.AccountUnbound(Alice, null, 2_100));
        var gone = await store.FindAccountAsync(Alice, None);
        Assert.NotNull(gone);
        Assert.Null(gone.Endpoint);
        Assert.Null(gone.AwaySinceUnixMs);
    }

    // Sessions and their members

    [Fact]
    public async Task A_new_session_is_found_active_with_its_members_smaller_id_first()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob));

        // The matchmaker names the waiting partner first, whichever id is smaller.
        await WriteAsync(store, new StoreWrite.NewSession(new SessionRecord(Talk, Bob, Alice, 3_000)));

        Assert.Equal(new SessionRecord(Talk, Alice, Bob, 3_000), (await store.LoadSessionAsync(Talk, None))?.Session);
        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Alice, None));
        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Bob, None));
    }

    [Fact]
    public async Task An_unknown_session_is_neither_found_nor_loaded()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));

        Assert.Null(await store.LoadSessionAsync(Other, None));
        Assert.Empty(await store.FindActiveSessionsAsync(Carol, None));
    }

    [Fact]
    public async Task Ending_a_session_twice_keeps_the_first_end_time()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));

        await WriteAsync(store, new StoreWrite.SessionEnded(Talk, 5_000));
        await WriteAsync(store, new StoreWrite.SessionEnded(Talk, 6_000));

        var loaded = await store.LoadSessionAsync(Talk, None);
        Assert.NotNull(loaded); // an ended session's grain still answers from the store's record
        Assert.Equal(5_000, loaded.Session.EndedAtUnixMs);
    }

    [Fact]
    public async Task Only_sessions_not_ended_are_active_for_an_account()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            NewAccount(Alice), NewAccount(Bob), NewAccount(Carol),
            NewSession(Talk, Alice, Bob), NewSession(Other, Carol, Alice), NewSession(Third, Bob, Carol));

        await WriteAsync(store, new StoreWrite.SessionEnded(Talk, 5_000));

        Assert.Equal([Other], await store.FindActiveSessionsAsync(Alice, None));
        Assert.Equal([Third], await store.FindActiveSessionsAsync(Bob, None));
        Assert.Equal([Other, Third], await store.FindActiveSessionsAsync(Carol, None));
    }

    [Fact]
    public async Task Loading_a_session_returns_its_members_smaller_id_first_with_their_accounts_delivery_marks_and_the_last_msgId()
    {
        await using var store = await OpenAsync();
        var bob = Account(Bob, OnSouth);
        var alice = Account(Alice, endpoint: null, awaySince: 1_700);
        await WriteAsync(store, new StoreWrite.NewAccount(bob), new StoreWrite.NewAccount(alice), new StoreWrite.NewSession(new SessionRecord(Talk, Bob, Alice, 3_000)));
        await WriteAsync(store, Message(21, Talk, Bob), Message(22, Talk, Alice), Message(23, Talk, Bob));
        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Alice, 21));

        var loaded = await store.LoadSessionAsync(Talk, None);

        Assert.NotNull(loaded);
        Assert.Equal(new SessionRecord(Talk, Alice, Bob, 3_000), loaded.Session);
        Assert.Equal(23UL, loaded.LastMsgId);
        AssertAccount(alice, loaded.First.Account);
        AssertAccount(bob, loaded.Second.Account);
        Assert.Equal(21UL, loaded.First.DeliveredUpTo);
        Assert.Equal(0UL, loaded.Second.DeliveredUpTo);
        Assert.Equal([new SentRequest("req-22", 22)], loaded.First.RecentRequests);
        Assert.Equal([new SentRequest("req-21", 21), new SentRequest("req-23", 23)], loaded.Second.RecentRequests);
    }

    [Fact]
    public async Task Loading_a_session_returns_each_members_last_requestIds_oldest_first_however_much_the_partner_sent()
    {
        // A retry is recognised after a rebuild only if its first attempt comes back here.
        const int Limit = MemberState.RecentRequestLimit;
        var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, [.. Ids(1, Limit + 10).Select(id => Message(id, Talk, Alice))]);
        await WriteAsync(store, Message(Limit + 20, Talk, Bob));
        await WriteAsync(store, [.. Ids(Limit + 30, 3 * Limit).Select(id => Message(id, Talk, Alice))]);
        const int AlicesLast = Limit + 30 + (3 * Limit) - 1;

        await AssertRecentAsync(store);
        await store.DisposeAsync();
        await using var again = await OpenAgainAsync(); // what a restart rebuilds the session from
        await AssertRecentAsync(again);

        static async Task AssertRecentAsync(IChatStore store)
        {
            var loaded = await store.LoadSessionAsync(Talk, None);
            Assert.NotNull(loaded);
            Assert.Equal(Ids(AlicesLast - Limit + 1, Limit), loaded.First.RecentRequests.Select(r => r.MsgId));
            Assert.All(loaded.First.RecentRequests, r => Assert.Equal($"req-{r.MsgId}", r.RequestId));
            Assert.Equal([new SentRequest($"req-{Limit + 20}", Limit + 20)], loaded.Second.RecentRequests);
            Assert.Equal((ulong)AlicesLast, loaded.LastMsgId);
        }
    }

    // Messages

    [Fact]
    public async Task A_replay_returns_the_sessions_messages_in_msgId_order_without_the_receivers_own()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Carol));
        await WriteAsync(store, Message(31, Talk, Alice), Message(32, Talk, Bob), Message(33, Other, Alice));
        await WriteAsync(store, Message(34, Talk, Alice), Message(35, Other, Alice), Message(36, Talk, Alice));

        var toBob = await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None);

        Assert.Equal([MessageRecord(31, Talk, Alice), MessageRecord(34, Talk, Alice), MessageRecord(36, Talk, Alice)], toBob);
        Assert.Equal([MessageRecord(32, Talk, Bob)], await store.ReadMessagesForAsync(Talk, Alice, 0, 100, None));
        Assert.Empty(await store.ReadMessagesForAsync(Third, Bob, 0, 100, None));
    }

    [Fact]
    public async Task A_replay_starts_above_the_given_msgId_and_pages_by_the_limit()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, [.. Ids(1, 5).Select(id => Message(id, Talk, Alice))]);
        await WriteAsync(store, Message(6, Talk, Bob));
        await WriteAsync(store, [.. Ids(7, 5).Select(id => Message(id, Talk, Alice))]);

        Assert.Equal([1, 2, 3, 4], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 4));
        Assert.Equal([5, 7, 8, 9], await ReplayIdsAsync(store, Talk, Bob, after: 4, limit: 4));
        Assert.Equal([10, 11], await ReplayIdsAsync(store, Talk, Bob, after: 9, limit: 4));
        Assert.Equal([7, 8, 9, 10, 11], await ReplayIdsAsync(store, Talk, Bob, after: 6, limit: 5));
        Assert.Empty(await ReplayIdsAsync(store, Talk, Bob, after: 11, limit: 4));
    }

    [Fact]
    public async Task A_message_at_or_below_its_sessions_last_msgId_is_refused_in_the_same_batch_or_a_later_one()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, Message(40, Talk, Alice));

        Assert.Equal([WriteResult.Refused], await ResultsAsync(store, Message(40, Talk, Bob)));
        Assert.Equal([WriteResult.Refused], await ResultsAsync(store, Message(39, Talk, Alice)));
        Assert.Equal([WriteResult.Stored, WriteResult.Refused, WriteResult.Stored], await ResultsAsync(store, Message(42, Talk, Alice), Message(41, Talk, Bob), Message(43, Talk, Bob)));

        Assert.Equal([40, 42], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Equal([43], await ReplayIdsAsync(store, Talk, Alice, after: 0, limit: 100));
    }

    [Fact]
    public async Task A_message_refused_in_a_batch_does_not_count_as_its_sessions_last()
    {
        // Only a stored message raises the bar: a refused one (here: an already stored requestId) does not.
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, Message(40, Talk, Alice, "req-a"));

        var outcomes = await OutcomesAsync(store, Message(45, Talk, Alice, "req-a"), Message(41, Talk, Bob));

        Assert.Equal([WriteOutcome.AlreadyStoredAs(40), WriteOutcome.Stored], outcomes);
        Assert.Equal(41UL, (await store.LoadSessionAsync(Talk, None))?.LastMsgId);
    }

    [Fact]
    public async Task A_message_at_or_below_its_sessions_last_msgId_is_refused_after_the_store_is_reopened()
    {
        var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, Message(50, Talk, Alice), Message(51, Talk, Bob));
        await store.DisposeAsync();

        await using var again = await OpenAgainAsync();

        Assert.Equal([WriteResult.Refused, WriteResult.Refused, WriteResult.Stored], await ResultsAsync(again, Message(51, Talk, Alice), Message(45, Talk, Alice), Message(52, Talk, Alice)));
        Assert.Equal(52UL, (await again.LoadSessionAsync(Talk, None))?.LastMsgId);
    }

    [Fact]
    public async Task A_message_in_a_session_that_does_not_exist_is_refused_and_its_neighbours_commit()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));

        Assert.Equal([WriteResult.Stored, WriteResult.Refused, WriteResult.Stored], await ResultsAsync(store, Message(40, Talk, Alice), Message(41, Other, Alice), Message(42, Talk, Alice)));

        Assert.Equal([40, 42], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Null(await store.LoadSessionAsync(Other, None));
    }

    [Fact]
    public async Task A_message_may_go_into_a_session_created_earlier_in_its_batch_but_not_before_it()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob));

        Assert.Equal(
            [WriteResult.Refused, WriteResult.Stored, WriteResult.Stored],
            await ResultsAsync(store, Message(40, Talk, Alice), NewSession(Talk, Alice, Bob), Message(41, Talk, Alice)));

        Assert.Equal([41], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
    }

    [Fact]
    public async Task MsgIds_need_only_rise_within_their_own_session()
    {
        // Nodes take msgIds from different blocks: a session may store an id below another session's last.
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Bob));
        await WriteAsync(store, Message(4_100, Talk, Alice));

        await WriteAsync(store, Message(7, Other, Alice), Message(4_101, Talk, Alice), Message(8, Other, Alice));

        Assert.Equal([7, 8], await ReplayIdsAsync(store, Other, Bob, after: 0, limit: 100));
        Assert.Equal([4_100, 4_101], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
    }

    [Fact]
    public async Task A_duplicate_message_id_is_refused_even_in_another_session()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Bob));
        await WriteAsync(store, Message(60, Talk, Alice));

        Assert.Equal([WriteResult.Refused, WriteResult.Stored], await ResultsAsync(store, Message(60, Other, Bob), Message(61, Other, Bob)));

        Assert.Equal([61], await ReplayIdsAsync(store, Other, Alice, after: 0, limit: 100));
        Assert.Equal([MessageRecord(60, Talk, Alice)], await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None));
    }

    // RequestIds: a message is stored once per (session, sender, requestId)

    [Fact]
    public async Task A_message_stored_again_under_its_senders_requestId_is_answered_already_stored_with_the_first_msgId()
    {
        // A retry after a COMMIT whose outcome was unknown: logic cannot know it landed, the store does.
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, Message(40, Talk, Alice, "req-a"), Message(41, Talk, Bob, "req-b"));

        Assert.Equal([WriteOutcome.AlreadyStoredAs(40)], await OutcomesAsync(store, Message(42, Talk, Alice, "req-a")));

        Assert.Equal([40], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Equal(41UL, (await store.LoadSessionAsync(Talk, None))?.LastMsgId);
        await WriteAsync(store, Message(42, Talk, Alice, "req-c")); // the refused 42 was never stored
    }

    [Fact]
    public async Task A_requestId_is_recognised_after_the_store_is_reopened()
    {
        var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, Message(40, Talk, Alice, "req-a"));
        await WriteAsync(store, [.. Ids(41, 20).Select(id => Message(id, Talk, Bob))]);
        await store.DisposeAsync();

        await using var again = await OpenAgainAsync();

        Assert.Equal([WriteOutcome.AlreadyStoredAs(40)], await OutcomesAsync(again, Message(70, Talk, Alice, "req-a")));
        Assert.Equal(60UL, (await again.LoadSessionAsync(Talk, None))?.LastMsgId);
    }

    [Fact]
    public async Task A_requestId_is_recognised_however_many_messages_of_the_session_came_after_it()
    {
        // The window is the session's whole life: 1,000 later messages (from both members, more than
        // any cache holds) and a restart in between still answer the retry with the first msgId.
        const int Later = 1_000;
        var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Bob));
        await WriteAsync(store, Message(1, Talk, Alice, "the-first"), Message(2, Other, Alice, "the-first"));
        for (var first = 3; first < 3 + Later; first += 100)
        {
            await WriteAsync(store, [.. Ids(first, 100).Select(id => Message(id, Talk, id % 3 == 0 ? Bob : Alice))]);
        }

        const ulong Retry = 3 + Later;
        Assert.Equal([WriteOutcome.AlreadyStoredAs(1)], await OutcomesAsync(store, Message(Retry, Talk, Alice, "the-first")));
        await store.DisposeAsync();

        await using var again = await OpenAgainAsync();
        Assert.Equal([WriteOutcome.AlreadyStoredAs(1), WriteOutcome.Stored], await OutcomesAsync(again, Message(Retry, Talk, Alice, "the-first"), Message(Retry + 1, Talk, Bob, "the-first")));
        Assert.Equal(Later + 2, (await again.ReadMessagesForAsync(Talk, Carol, 0, 2 * Later, None)).Count);
        Assert.Equal(Retry + 1, (await again.LoadSessionAsync(Talk, None))?.LastMsgId);
    }

    [Fact]
    public async Task The_same_requestId_twice_in_one_batch_stores_the_first_and_answers_the_second_with_it()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));

        Assert.Equal(
            [WriteOutcome.Stored, WriteOutcome.AlreadyStoredAs(40), WriteOutcome.Stored],
            await OutcomesAsync(store, Message(40, Talk, Alice, "req-a"), Message(41, Talk, Alice, "req-a"), Message(42, Talk, Bob, "req-a")));

        Assert.Equal([40], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Equal([42], await ReplayIdsAsync(store, Talk, Alice, after: 0, limit: 100));
    }

    [Fact]
    public async Task One_resent_requestId_among_a_thousand_other_writes_is_answered_alone_and_the_others_commit()
    {
        // A visitor's lost answer must not cost everyone else in the batch: each write gets its own outcome.
        const int Sessions = 64, PerSession = 16;
        await using var store = await OpenAsync();
        var setup = new List<StoreWrite>();
        for (var i = 0; i < Sessions; i++)
        {
            setup.AddRange([NewAccount(100 + (2 * (ulong)i)), NewAccount(101 + (2 * (ulong)i)), NewSession(1_000 + (ulong)i, 100 + (2 * (ulong)i), 101 + (2 * (ulong)i))]);
        }

        await WriteAsync(store, [.. setup]);
        await WriteAsync(store, Message(1, 1_000, 100, "lost-answer"));
        var batch = new List<StoreWrite>();
        for (var n = 0; n < Sessions * PerSession; n++)
        {
            var session = (ulong)(n % Sessions);
            batch.Add(Message(10 + (ulong)n, 1_000 + session, 100 + (2 * session) + (ulong)(n % 2)));
            if (n == Sessions * PerSession / 2)
            {
                batch.Add(Message(5_000, 1_000, 100, "lost-answer"));
            }
        }

        var outcomes = await OutcomesAsync(store, [.. batch]);

        Assert.Equal(batch.Count, outcomes.Length);
        var resent = batch.FindIndex(w => w is StoreWrite.NewMessage { Message.Id: 5_000 });
        Assert.Equal(WriteOutcome.AlreadyStoredAs(1), outcomes[resent]);
        Assert.All(outcomes.Where((_, i) => i != resent), o => Assert.Equal(WriteOutcome.Stored, o));
        Assert.Equal(PerSession + 1, (await store.ReadMessagesForAsync(1_000, 0, 0, 1_000, None)).Count);
        Assert.Equal(PerSession, (await store.ReadMessagesForAsync(1_000 + Sessions - 1, 0, 0, 1_000, None)).Count);
    }

    [Fact]
    public async Task A_requestId_names_a_message_only_for_its_sender_in_its_session_compared_exactly()
    {
        // MariaDB's default collations ignore case and trailing spaces: "aB", "ab" and "ab " must not collide.
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Bob));

        await WriteAsync(store, Message(40, Talk, Alice, "aB"));
        await WriteAsync(store, Message(41, Talk, Alice, "ab"));
        await WriteAsync(store, Message(42, Talk, Alice, "ab "));
        await WriteAsync(store, Message(43, Talk, Alice, "ab\u00A0"));
        await WriteAsync(store, Message(44, Talk, Bob, "aB"));
        await WriteAsync(store, Message(45, Other, Alice, "aB"));

        Assert.Equal([40, 41, 42, 43], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Equal(["aB", "ab", "ab ", "ab\u00A0"], (await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None)).Select(m => m.RequestId));
        Assert.Equal([WriteOutcome.AlreadyStoredAs(41), WriteOutcome.AlreadyStoredAs(44)], await OutcomesAsync(store, Message(46, Talk, Alice, "ab"), Message(47, Talk, Bob, "aB")));
    }

    [Fact]
    public async Task Text_keeps_every_character_as_written()
    {
        await using var store = await OpenAsync();
        var alice = Account(Alice, OnNorth) with { NickName = "Zoë 🙂 ab " };
        await WriteAsync(store, new StoreWrite.NewAccount(alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        var message = new MessageRecord(40, Talk, Alice, "🙂-Ab ", "<b>hi</b> 🙂\n' \" \\ ; -- 漢字 ", 12_345);

        await WriteAsync(store, new StoreWrite.NewMessage(message));

        AssertAccount(alice, await store.FindAccountAsync(Alice, None));
        Assert.Equal([message], await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None));
    }

    // Delivery and read marks

    [Fact]
    public async Task A_delivery_mark_only_rises()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, [.. Ids(1, 9).Select(id => Message(id, Talk, id % 2 == 0 ? Alice : Bob))]);

        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Bob, 6));
        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Bob, 4), new StoreWrite.DeliveredUpTo(Talk, Alice, 7));
        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Alice, 3));

        var loaded = await store.LoadSessionAsync(Talk, None);
        Assert.NotNull(loaded);
        Assert.Equal(7UL, loaded.First.DeliveredUpTo);
        Assert.Equal(6UL, loaded.Second.DeliveredUpTo);

        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Bob, 8));
        Assert.Equal(8UL, (await store.LoadSessionAsync(Talk, None))?.Second.DeliveredUpTo);
    }

    [Fact]
    public async Task A_read_mark_only_rises()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, [.. Ids(1, 9).Select(id => Message(id, Talk, Alice))]);

        await WriteAsync(store, new StoreWrite.ViewedUpTo(Talk, Bob, 5, 7_000));
        await WriteAsync(store, new StoreWrite.ViewedUpTo(Talk, Bob, 3, 7_100));
        Assert.Equal(5UL, await ViewedUpToAsync(store, Talk, Bob));

        await WriteAsync(store, new StoreWrite.ViewedUpTo(Talk, Bob, 9, 7_200), new StoreWrite.ViewedUpTo(Talk, Bob, 8, 7_300));
        Assert.Equal(9UL, await ViewedUpToAsync(store, Talk, Bob));
        Assert.Equal(0UL, await ViewedUpToAsync(store, Talk, Alice));
    }

    // The waiting pool and active pairs

    [Fact]
    public async Task The_waiting_pool_lists_the_longest_waiting_first_then_by_account_id()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewAccount(Dave));

        await WriteAsync(store, new StoreWrite.WaitingAdded(Carol, 900), new StoreWrite.WaitingAdded(Bob, 500), new StoreWrite.WaitingAdded(Dave, 500), new StoreWrite.WaitingAdded(Alice, 700));
        await WriteAsync(store, new StoreWrite.WaitingRemoved(Alice), new StoreWrite.WaitingRemoved(Erin));

        Assert.Equal([new WaitingEntry(Bob, 500), new WaitingEntry(Dave, 500), new WaitingEntry(Carol, 900)], await store.LoadWaitingAsync(None));
    }

    [Fact]
    public async Task Adding_a_waiting_account_again_keeps_its_first_entry()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob));
        await WriteAsync(store, new StoreWrite.WaitingAdded(Alice, 500), new StoreWrite.WaitingAdded(Bob, 600));

        await WriteAsync(store, new StoreWrite.WaitingAdded(Alice, 800));

        Assert.Equal([new WaitingEntry(Alice, 500), new WaitingEntry(Bob, 600)], await store.LoadWaitingAsync(None));
    }

    [Fact]
    public async Task Active_pairs_are_the_members_of_sessions_not_ended_smaller_id_first()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewAccount(Dave),
            NewSession(Talk, Bob, Alice), NewSession(Other, Dave, Carol), NewSession(Third, Alice, Dave));

        await WriteAsync(store, new StoreWrite.SessionEnded(Third, 5_000));

        var pairs = await store.LoadActivePairsAsync(None);
        Assert.Equal([new ActivePair(Alice, Bob), new ActivePair(Carol, Dave)], pairs.OrderBy(p => p.First));
    }

    // Pairing: the store is the fence against pairing a visitor twice

    [Fact]
    public async Task A_pairing_takes_its_claimed_accounts_out_of_the_waiting_pool_with_the_new_session()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), new StoreWrite.WaitingAdded(Alice, 500), new StoreWrite.WaitingAdded(Bob, 600), new StoreWrite.WaitingAdded(Carol, 700));

        await WriteAsync(store, Pairing(Talk, Alice, Bob, claims: [Alice, Bob]));

        Assert.Equal([new WaitingEntry(Carol, 700)], await store.LoadWaitingAsync(None));
        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Alice, None));
    }

    [Fact]
    public async Task A_visitor_who_starts_waiting_and_is_claimed_in_one_batch_is_paired_and_one_who_stopped_waiting_is_not()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewAccount(Dave), new StoreWrite.WaitingAdded(Carol, 400));

        // In a storm, a visitor's waiting row and the pairing that takes it, a moment later, share a commit.
        var outcomes = await OutcomesAsync(
            store,
            new StoreWrite.WaitingAdded(Alice, 500),
            Pairing(Talk, Alice, Bob, claims: [Alice]),
            new StoreWrite.WaitingRemoved(Carol),
            Pairing(Other, Carol, Dave, claims: [Carol]));
        Assert.Equal([(WriteResult.Stored, 0UL), (WriteResult.Stored, 0UL), (WriteResult.Stored, 0UL), (WriteResult.Refused, Carol)], outcomes.Select(o => (o.Result, o.AccountId)));

        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Alice, None));
        Assert.Empty(await store.FindActiveSessionsAsync(Carol, None));
        Assert.Empty(await store.LoadWaitingAsync(None));
    }

    [Fact]
    public async Task A_second_pairing_that_claims_an_account_already_taken_is_refused_in_the_same_batch_or_a_later_one()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewAccount(Dave), new StoreWrite.WaitingAdded(Alice, 500), new StoreWrite.WaitingAdded(Bob, 600));

        // Two matchmakers (a shard and its stale copy on a silo declared dead) both pair waiting Alice.
        var outcomes = await OutcomesAsync(store, Pairing(Talk, Alice, Carol, claims: [Alice]), Pairing(Other, Alice, Dave, claims: [Alice]));
        Assert.Equal([(WriteResult.Stored, 0UL), (WriteResult.Refused, Alice)], outcomes.Select(o => (o.Result, o.AccountId)));
        Assert.Equal([WriteResult.Refused, WriteResult.Stored], await ResultsAsync(store, Pairing(Third, Alice, Dave, claims: [Alice]), Pairing(Fourth, Bob, Dave, claims: [Bob])));

        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Alice, None));
        Assert.Equal([Fourth], await store.FindActiveSessionsAsync(Dave, None));
        Assert.Null(await store.LoadSessionAsync(Other, None));
        Assert.Empty(await store.LoadWaitingAsync(None));
    }

    [Fact]
    public async Task A_pairing_of_a_member_at_its_cap_of_active_sessions_is_refused_until_one_ends()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), new StoreWrite.WaitingAdded(Carol, 500));
        await WriteAsync(store, Pairing(Talk, Alice, Bob, claims: [], maxSessions: 1));

        // Carol still waits: a refused pairing takes nobody out of the pool, and it names who is at the cap.
        var refused = (await OutcomesAsync(store, Pairing(Other, Carol, Alice, claims: [Carol], maxSessions: 1)))[0];
        Assert.Equal((WriteResult.Refused, Alice), (refused.Result, refused.AccountId));
        Assert.Equal([new WaitingEntry(Carol, 500)], await store.LoadWaitingAsync(None));

        await WriteAsync(store, new StoreWrite.SessionEnded(Talk, 5_000));
        await WriteAsync(store, Pairing(Other, Carol, Alice, claims: [Carol], maxSessions: 1));
        Assert.Equal([Other], await store.FindActiveSessionsAsync(Alice, None));
    }

    [Fact]
    public async Task A_pairing_refused_in_a_batch_leaves_its_neighbours_to_commit()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewAccount(Dave), new StoreWrite.WaitingAdded(Bob, 500), new StoreWrite.WaitingAdded(Dave, 600));

        Assert.Equal(
            [WriteResult.Refused, WriteResult.Stored, WriteResult.Stored],
            await ResultsAsync(store, Pairing(Talk, Alice, Bob, claims: [Alice, Bob]), Pairing(Other, Carol, Dave, claims: [Dave], maxSessions: 1), new StoreWrite.WaitingAdded(Alice, 900)));

        Assert.Null(await store.LoadSessionAsync(Talk, None));
        Assert.Equal([new WaitingEntry(Bob, 500), new WaitingEntry(Alice, 900)], await store.LoadWaitingAsync(None));
        Assert.Equal([Other], await store.FindActiveSessionsAsync(Carol, None));
    }

    [Fact]
    public async Task Two_stores_on_one_database_never_both_pair_the_same_waiting_account()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAgainAsync();
        await WriteAsync(first, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), new StoreWrite.WaitingAdded(Alice, 500));

        var results = await Task.WhenAll(ResultsAsync(first, Pairing(Talk, Alice, Bob, claims: [Alice])), ResultsAsync(second, Pairing(Other, Alice, Carol, claims: [Alice])));

        Assert.Equal(1, results.Count(r => r[0] == WriteResult.Stored));
        Assert.Single(await first.FindActiveSessionsAsync(Alice, None));
    }

    // Away accounts and counts

    [Fact]
    public async Task Accounts_away_at_or_before_a_time_are_found_longest_away_first_up_to_the_limit()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, endpoint: null, awaySince: 300)),
            new StoreWrite.NewAccount(Account(Bob, OnNorth)),
            new StoreWrite.NewAccount(Account(Carol, endpoint: null, awaySince: 200)),
            new StoreWrite.NewAccount(Account(Dave, endpoint: null, awaySince: 100)),
            new StoreWrite.NewAccount(Account(Erin, endpoint: null, awaySince: 200)),
            NewAccount(6));

        Assert.Equal([Dave, Carol, Erin], await store.FindAwaySinceAsync(200, 10, None));
        Assert.Equal([Dave, Carol], await store.FindAwaySinceAsync(200, 2, None));
        Assert.Equal([Dave, Carol, Erin, Alice], await store.FindAwaySinceAsync(long.MaxValue, 10, None));
        Assert.Empty(await store.FindAwaySinceAsync(99, 10, None));
    }

    [Fact]
    public async Task Counts_are_accounts_with_a_socket_waiting_accounts_and_sessions_not_ended()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, OnSouth)),
            new StoreWrite.NewAccount(Account(Carol, OnNorth)), new StoreWrite.NewAccount(Account(Dave, endpoint: null, awaySince: 100)),
            NewAccount(Erin),
            NewSession(Talk, Alice, Dave), NewSession(Other, Bob, Erin), NewSession(Third, Alice, Bob),
            new StoreWrite.WaitingAdded(Carol, 100));

        await WriteAsync(store, new StoreWrite.SessionEnded(Third, 5_000), new StoreWrite.AccountUnbound(Bob, null, 5_000));

        Assert.Equal(new ChatCounts(Online: 2, Waiting: 1, ActiveSessions: 2), await store.ReadCountsAsync(None));
    }

    // A broker that is gone

    [Fact]
    public async Task When_a_broker_is_gone_its_accounts_lose_their_socket_and_leave_the_waiting_pool_and_other_brokers_keep_theirs()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, new ClientEndpoint("north", 43))),
            new StoreWrite.NewAccount(Account(Carol, OnSouth)), new StoreWrite.NewAccount(Account(Dave, OnSouth)),
            NewSession(Talk, Carol, Dave), NewSession(Other, Bob, Carol),
            new StoreWrite.WaitingAdded(Alice, 100), new StoreWrite.WaitingAdded(Dave, 200));
        await WriteAsync(store, new StoreWrite.SessionEnded(Other, 300));

        await WriteAsync(store, new StoreWrite.BrokerGone("north", 1_000));

        // Alice was only waiting, Bob's one session had ended: neither is away.
        Assert.Equal(new AccountState(null, null), await StateOfAsync(store, Alice));
        Assert.Equal(new AccountState(null, null), await StateOfAsync(store, Bob));
        Assert.Equal(new AccountState(OnSouth, null), await StateOfAsync(store, Carol));
        Assert.Equal(new AccountState(OnSouth, null), await StateOfAsync(store, Dave));
        Assert.Equal([new WaitingEntry(Dave, 200)], await store.LoadWaitingAsync(None));
        Assert.Equal(new ChatCounts(Online: 2, Waiting: 1, ActiveSessions: 1), await store.ReadCountsAsync(None));
    }

    [Fact]
    public async Task When_a_broker_is_gone_its_accounts_in_active_sessions_are_away_from_then_unless_away_earlier()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, new ClientEndpoint("north", 43), awaySince: 400)),
            new StoreWrite.NewAccount(Account(Carol, OnSouth)), new StoreWrite.NewAccount(Account(Dave, endpoint: null, awaySince: 500)),
            NewSession(Talk, Alice, Carol), NewSession(Other, Bob, Dave));

        await WriteAsync(store, new StoreWrite.BrokerGone("north", 1_000));

        Assert.Equal(new AccountState(null, 1_000), await StateOfAsync(store, Alice));
        Assert.Equal(new AccountState(null, 400), await StateOfAsync(store, Bob));
        Assert.Equal(new AccountState(OnSouth, null), await StateOfAsync(store, Carol));
        Assert.Equal(new AccountState(null, 500), await StateOfAsync(store, Dave));
        Assert.Equal([Bob, Dave, Alice], await store.FindAwaySinceAsync(1_000, 10, None));
    }

    [Fact]
    public async Task The_brokers_found_are_those_that_hold_some_accounts_socket_once_each()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, new ClientEndpoint("north", 43))),
            new StoreWrite.NewAccount(Account(Carol, OnSouth)), new StoreWrite.NewAccount(Account(Dave, endpoint: null)));
        Assert.Equal(["north", "south"], await store.FindBrokersAsync(None));

        await WriteAsync(store, new StoreWrite.AccountUnbound(Carol, null, 3_000));
        Assert.Equal(["north"], await store.FindBrokersAsync(None));
    }

    [Fact]
    public async Task An_account_whose_broker_fell_silent_is_away_from_then_keeps_its_socket_and_is_found_on_that_broker()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, new ClientEndpoint("north", 43), awaySince: 400)),
            new StoreWrite.NewAccount(Account(Carol, OnSouth)));

        await WriteAsync(store, new StoreWrite.AccountAway(Alice, 1_000), new StoreWrite.AccountAway(Bob, 1_000));

        Assert.Equal(new AccountState(OnNorth, 1_000), await StateOfAsync(store, Alice));
        Assert.Equal(new AccountState(new ClientEndpoint("north", 43), 400), await StateOfAsync(store, Bob)); // away since earlier: kept
        Assert.Equal([Alice, Bob], await store.FindOnBrokerAsync("north", 10, None));
        Assert.Equal([Alice], await store.FindOnBrokerAsync("north", 1, None));
        Assert.Equal([Carol], await store.FindOnBrokerAsync("south", 10, None));
        Assert.Empty(await store.FindOnBrokerAsync("east", 10, None));

        // Reclaimed on the same socket: no longer away.
        await WriteAsync(store, new StoreWrite.AccountBound(Alice, OnNorth));
        Assert.Equal(new AccountState(OnNorth, null), await StateOfAsync(store, Alice));
    }

    [Fact]
    public async Task A_restarted_broker_keeps_the_sockets_of_its_own_start_and_releases_the_earlier_ones()
    {
        // Connection ids are random: which start a socket belongs to is only in its binding's incarnation.
        // Carol's socket was bound again on this start with the id her old one had on the earlier one.
        const long Earlier = 0x7AB_0000_0001, Now = 0x1F3_0000_0001;
        var oldSocket = new ClientEndpoint("north", 0x5E2D_91C4_08B7_33A1, Earlier);
        var newSocket = new ClientEndpoint("north", 0x0000_0009_0000_0001, Now);
        var carolsOld = new ClientEndpoint("north", 0x7FFF_FFFF_FFFF_FFFF, Earlier);
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, oldSocket)), new StoreWrite.NewAccount(Account(Bob, newSocket)), new StoreWrite.NewAccount(Account(Carol, carolsOld)),
            new StoreWrite.WaitingAdded(Alice, 100), new StoreWrite.WaitingAdded(Bob, 200));
        await WriteAsync(store, new StoreWrite.AccountBound(Carol, carolsOld with { Incarnation = Now }));
        Assert.Equal(new AccountState(carolsOld with { Incarnation = Now }, null), await StateOfAsync(store, Carol));

        await WriteAsync(store, new StoreWrite.BrokerGone("north", 1_000, KeepIncarnation: Now));

        Assert.Equal(new AccountState(null, null), await StateOfAsync(store, Alice));
        Assert.Equal(new AccountState(newSocket, null), await StateOfAsync(store, Bob));
        Assert.Equal(new AccountState(carolsOld with { Incarnation = Now }, null), await StateOfAsync(store, Carol));
        Assert.Equal([new WaitingEntry(Bob, 200)], await store.LoadWaitingAsync(None));
    }

    // Id blocks

    [Fact]
    public async Task Id_blocks_of_a_kind_never_overlap_and_start_at_one_or_above()
    {
        await using var store = await OpenAsync();
        var blocks = new List<IdBlock>();
        foreach (var (kind, count) in new[] { (IdKind.Message, 4096), (IdKind.Account, 1), (IdKind.Message, 1), (IdKind.Session, 256), (IdKind.Account, 256), (IdKind.Message, 7), (IdKind.Session, 1) })
        {
            blocks.Add(new IdBlock(kind, await store.ReserveIdsAsync(kind, count, None), count));
        }

        AssertDisjoint(blocks);
    }

    [Fact]
    public async Task Reserved_ids_are_not_handed_out_again_after_the_store_is_reopened()
    {
        var store = await OpenAsync();
        var before = new IdBlock(IdKind.Message, await store.ReserveIdsAsync(IdKind.Message, 100, None), 100);
        await store.DisposeAsync();

        await using var again = await OpenAgainAsync();
        var after = new IdBlock(IdKind.Message, await again.ReserveIdsAsync(IdKind.Message, 100, None), 100);

        AssertDisjoint([before, after]);
    }

    [Fact]
    public async Task Id_blocks_taken_concurrently_from_two_stores_on_one_database_never_overlap()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAgainAsync();
        var random = new Random(53);
        var asks = Enumerable.Range(0, 100)
            .Select(i => (Store: i % 2 == 0 ? first : second, Kind: (IdKind)random.Next(3), Count: random.Next(1, 5_000)))
            .ToList();

        var reserving = asks.Select(ask => Task.Run(async () => new IdBlock(ask.Kind, await ask.Store.ReserveIdsAsync(ask.Kind, ask.Count, None), ask.Count)));
        var blocks = await Task.WhenAll(reserving).Within(TimeSpan.FromSeconds(60), "100 concurrent id reservations");

        AssertDisjoint(blocks);
    }

    [Fact]
    public async Task A_reservation_that_would_pass_2_pow_53_is_refused_and_takes_nothing()
    {
        await using var store = await OpenAsync();
        await MoveNextIdToAsync(store, IdKind.Message, IChatStore.IdLimit - 10);

        await Assert.ThrowsAsync<StoreRefusedException>(() => store.ReserveIdsAsync(IdKind.Message, 11, None));
        Assert.Equal(IChatStore.IdLimit - 10, await store.ReserveIdsAsync(IdKind.Message, 10, None));
        await Assert.ThrowsAsync<StoreRefusedException>(() => store.ReserveIdsAsync(IdKind.Message, 1, None));
        Assert.True(await store.ReserveIdsAsync(IdKind.Account, 1, None) < IChatStore.IdLimit - 10); // each kind counts on its own
    }

    // Batches commit all-or-nothing; refused writes

    [Fact]
    public Task A_duplicate_account_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(NewAccount(Alice));

    [Fact]
    public Task A_message_not_above_its_sessions_last_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(Message(70, Talk, Bob));

    [Fact]
    public Task A_message_with_a_used_id_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(Message(71, Third, Bob));

    [Fact]
    public Task A_duplicate_session_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(NewSession(Talk, Alice, Dave));

    [Fact]
    public Task A_session_with_an_account_that_does_not_exist_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(NewSession(Fourth, Alice, Erin));

    [Fact]
    public Task An_id_out_of_range_in_the_middle_of_a_batch_is_refused_alone() =>
        AssertRefusedAloneAsync(Message(IChatStore.IdLimit, Talk, Bob));

    [Fact]
    public async Task A_session_needs_two_different_accounts_that_exist()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob));

        Assert.Equal(
            [WriteResult.Refused, WriteResult.Refused, WriteResult.Refused, WriteResult.Stored, WriteResult.Stored],
            await ResultsAsync(store, NewSession(Talk, Alice, Alice), NewSession(Other, Alice, Carol), NewSession(Third, Dave, Carol), NewAccount(Carol), NewSession(Other, Carol, Alice)));

        Assert.Null(await store.LoadSessionAsync(Talk, None));
        Assert.Null(await store.LoadSessionAsync(Third, None));
        Assert.Equal([Other], await store.FindActiveSessionsAsync(Alice, None));
    }

    [Fact]
    public async Task A_duplicate_account_id_is_refused_and_the_first_account_kept()
    {
        await using var store = await OpenAsync();
        var alice = Account(Alice, OnNorth);
        await WriteAsync(store, new StoreWrite.NewAccount(alice));

        Assert.Equal([WriteResult.Refused], await ResultsAsync(store, new StoreWrite.NewAccount(alice with { NickName = "impostor", Endpoint = OnSouth })));

        AssertAccount(alice, await store.FindAccountAsync(Alice, None));
    }

    [Fact]
    public async Task A_duplicate_session_id_is_refused_and_the_first_session_kept()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewAccount(Carol), NewSession(Talk, Alice, Bob));

        Assert.Equal([WriteResult.Refused], await ResultsAsync(store, NewSession(Talk, Alice, Carol)));

        Assert.Equal(new SessionRecord(Talk, Alice, Bob, 3_000), (await store.LoadSessionAsync(Talk, None))?.Session);
        Assert.Empty(await store.FindActiveSessionsAsync(Carol, None));
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(IChatStore.IdLimit)]
    [InlineData(ulong.MaxValue)]
    public async Task Ids_outside_1_to_2_pow_53_are_refused(ulong id)
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));

        Assert.Equal([WriteResult.Refused, WriteResult.Refused, WriteResult.Refused], await ResultsAsync(store, NewAccount(id), NewSession(id, Alice, Bob), Message(id, Talk, Alice)));
        Assert.Null(await store.FindAccountAsync(id, None));

        Assert.Equal([Talk], await store.FindActiveSessionsAsync(Alice, None));
        Assert.Empty(await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None));
    }

    // Retention

    [Fact]
    public async Task Retention_deletes_the_messages_and_marks_of_sessions_ended_before_the_cutoff_and_nothing_else()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), NewAccount(Bob), NewAccount(Carol),
            NewSession(Talk, Alice, Bob), NewSession(Other, Alice, Carol), NewSession(Third, Bob, Carol));

        // Talk gets 3, 6, … 30 from Alice; Other 1, 4, … 28 from Carol; Third 2, 5, … 29 from Bob.
        await WriteAsync(store, [.. Ids(1, 30).Select(id => (id % 3) switch { 0 => Message(id, Talk, Alice), 1 => Message(id, Other, Carol), _ => Message(id, Third, Bob) })]);
        await WriteAsync(store, new StoreWrite.DeliveredUpTo(Talk, Bob, 9), new StoreWrite.ViewedUpTo(Talk, Bob, 9, 4_000), new StoreWrite.DeliveredUpTo(Other, Alice, 10));
        await WriteAsync(store, new StoreWrite.SessionEnded(Talk, 5_000), new StoreWrite.SessionEnded(Other, 6_000));

        var calls = await DeleteAllExpiredAsync(store, before: 6_000, limit: 4);

        Assert.True(calls >= 3, $"10 messages and a session went in {calls} calls of at most 4 rows");
        Assert.Null(await store.LoadSessionAsync(Talk, None));
        Assert.Empty(await store.ReadMessagesForAsync(Talk, Bob, 0, 100, None));

        // Ended at the cutoff itself, and still active: kept whole.
        Assert.Equal(Ids(0, 10).Select(i => (3 * i) + 1), await ReplayIdsAsync(store, Other, Alice, after: 0, limit: 100));
        Assert.Equal(10UL, (await store.LoadSessionAsync(Other, None))?.First.DeliveredUpTo);
        Assert.Equal(Ids(0, 10).Select(i => (3 * i) + 2), await ReplayIdsAsync(store, Third, Carol, after: 0, limit: 100));
        Assert.Equal([Third], await store.FindActiveSessionsAsync(Bob, None));
        Assert.NotNull(await store.FindAccountAsync(Alice, None)); // bound to a socket: never gone
    }

    [Fact]
    public async Task Retention_deletes_accounts_gone_before_the_cutoff_once_they_are_in_no_session()
    {
        await using var store = await OpenAsync();
        await WriteAsync(
            store,
            new StoreWrite.NewAccount(Account(Alice, OnNorth)), new StoreWrite.NewAccount(Account(Bob, OnNorth)),
            new StoreWrite.NewAccount(Account(Carol, OnSouth)), new StoreWrite.NewAccount(Account(Dave, OnSouth)),
            new StoreWrite.NewAccount(Account(Erin, OnSouth)), new StoreWrite.NewAccount(Account(6, OnSouth)),
            new StoreWrite.NewAccount(Account(7, OnSouth)), NewAccount(8), new StoreWrite.NewAccount(Account(9, OnSouth)),
            NewSession(Talk, Alice, Bob), NewSession(Other, 7, 9));
        await WriteAsync(store, Message(1, Talk, Alice), Message(2, Talk, Bob));
        await WriteAsync(
            store,
            new StoreWrite.AccountUnbound(Alice, null, 4_000), new StoreWrite.AccountUnbound(Bob, null, 4_100), new StoreWrite.SessionEnded(Talk, 4_200),
            new StoreWrite.AccountUnbound(Carol, null, 3_000), new StoreWrite.WaitingAdded(Carol, 2_900),   // gone but waiting
            new StoreWrite.AccountUnbound(Dave, 1_000, 1_000),                                                // away: its grace period runs
            new StoreWrite.AccountUnbound(6, null, 7_000),                                                    // gone after the cutoff
            new StoreWrite.AccountUnbound(7, null, 3_000), new StoreWrite.SessionEnded(Other, 7_500));        // its session ended after the cutoff

        await DeleteAllExpiredAsync(store, before: 6_000, limit: 2);

        Assert.Null(await store.FindAccountAsync(Alice, None));
        Assert.Null(await store.FindAccountAsync(Bob, None));
        Assert.Null(await store.FindAccountAsync(8, None)); // created without a socket at 1_008 and never bound
        foreach (var kept in new ulong[] { Carol, Dave, Erin, 6, 7, 9 })
        {
            Assert.NotNull(await store.FindAccountAsync(kept, None));
        }

        Assert.NotNull(await store.LoadSessionAsync(Other, None));
        Assert.Equal([Dave], await store.FindAwaySinceAsync(long.MaxValue, 10, None));
        Assert.Equal([new WaitingEntry(Carol, 2_900)], await store.LoadWaitingAsync(None));

        // A bound account is never gone; binding again makes a gone account stay.
        await WriteAsync(store, new StoreWrite.AccountBound(6, OnNorth));
        await DeleteAllExpiredAsync(store, before: 8_000, limit: 2);
        Assert.NotNull(await store.FindAccountAsync(6, None));
        Assert.Null(await store.LoadSessionAsync(Other, None));
        Assert.Null(await store.FindAccountAsync(7, None));
    }

    [Fact]
    public async Task Retention_finds_nothing_to_delete_while_every_session_is_active()
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, NewAccount(Alice), NewAccount(Bob), NewSession(Talk, Alice, Bob));
        await WriteAsync(store, [.. Ids(1, 5).Select(id => Message(id, Talk, Alice))]);

        Assert.Equal(0, await store.DeleteExpiredAsync(long.MaxValue, 100, None));

        Assert.Equal([1, 2, 3, 4, 5], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
    }

    /// <summary>Deletes until a call finds less than a full batch, as the sweeper does; returns the number of calls.</summary>
    private static async Task<int> DeleteAllExpiredAsync(IChatStore store, long before, int limit)
    {
        for (var calls = 1; calls < 1_000; calls++)
        {
            var deleted = await store.DeleteExpiredAsync(before, limit, None);
            Assert.InRange(deleted, 0, limit);
            if (deleted < limit)
            {
                return calls;
            }
        }

        throw new InvalidOperationException("retention never finished");
    }

    /// <summary>
    /// A batch of good writes with <paramref name="bad"/> in the middle: the bad one is refused and
    /// leaves nothing of itself, the others commit in the same call, and the store goes on from there.
    /// </summary>
    private async Task AssertRefusedAloneAsync(StoreWrite bad)
    {
        await using var store = await OpenAsync();
        await WriteAsync(store, new StoreWrite.NewAccount(Account(Alice, OnNorth)), NewAccount(Bob), NewAccount(Dave), NewSession(Talk, Alice, Bob), NewSession(Third, Alice, Dave));
        await WriteAsync(store, Message(70, Talk, Alice), Message(71, Talk, Alice));

        var outcomes = await OutcomesAsync(
            store,
            NewAccount(Carol),
            NewSession(Other, Carol, Bob),
            Message(72, Talk, Alice),
            new StoreWrite.WaitingAdded(Carol, 900),
            bad,
            new StoreWrite.DeliveredUpTo(Talk, Bob, 72),
            new StoreWrite.AccountUnbound(Alice, 950, 950),
            Message(73, Other, Carol),
            new StoreWrite.SessionEnded(Talk, 990));

        Assert.Equal(WriteResult.Refused, outcomes[4].Result);
        Assert.False(string.IsNullOrEmpty(outcomes[4].Reason));
        Assert.All(outcomes.Where((_, i) => i != 4), o => Assert.Equal(WriteOutcome.Stored, o));
        AssertAccount(Account(Alice, endpoint: null, awaySince: 950), await store.FindAccountAsync(Alice, None));
        AssertAccount(Account(Carol), await store.FindAccountAsync(Carol, None));
        Assert.Null(await store.FindAccountAsync(Erin, None));
        Assert.Equal([70, 71, 72], await ReplayIdsAsync(store, Talk, Bob, after: 0, limit: 100));
        Assert.Equal([73], await ReplayIdsAsync(store, Other, Bob, after: 0, limit: 100));
        Assert.Empty(await ReplayIdsAsync(store, Third, Alice, after: 0, limit: 100));
        Assert.Equal([new WaitingEntry(Carol, 900)], await store.LoadWaitingAsync(None));
        var talk = await store.LoadSessionAsync(Talk, None);
        Assert.NotNull(talk);
        Assert.Equal(990, talk.Session.EndedAtUnixMs);
        Assert.Equal(72UL, talk.LastMsgId);
        Assert.Equal(72UL, talk.Second.DeliveredUpTo);
        Assert.Equal(new SessionRecord(Third, Alice, Dave, 3_000), (await store.LoadSessionAsync(Third, None))?.Session);
        Assert.Equal([Other, Third], (await store.FindActiveSessionsAsync(Alice, None)).Concat(await store.FindActiveSessionsAsync(Carol, None)).Order());
    }

    /// <summary>Writes the batch and asserts that every write of it was stored.</summary>
    private static async Task WriteAsync(IChatStore store, params StoreWrite[] batch)
    {
        var outcomes = await OutcomesAsync(store, batch);
        for (var i = 0; i < batch.Length; i++)
        {
            Assert.True(outcomes[i] == WriteOutcome.Stored, $"write {i} of {batch.Length} ({batch[i].GetType().Name}): {outcomes[i]}");
        }
    }

    private static async Task<WriteOutcome[]> OutcomesAsync(IChatStore store, params StoreWrite[] batch)
    {
        var outcomes = new WriteOutcome[batch.Length];
        await store.WriteAsync(batch, outcomes, None);
        return outcomes;
    }

    private static async Task<WriteResult[]> ResultsAsync(IChatStore store, params StoreWrite[] batch) =>
        [.. (await OutcomesAsync(store, batch)).Select(o => o.Result)];

    private static async Task<ulong> ViewedUpToAsync(IChatStore store, ulong sessionId, ulong accountId)
    {
        var loaded = await store.LoadSessionAsync(sessionId, None);
        Assert.NotNull(loaded);
        return loaded.First.Account.Id == accountId ? loaded.First.ViewedUpTo : loaded.Second.ViewedUpTo;
    }

    private static AccountRecord Account(ulong id, ClientEndpoint? endpoint = null, long? awaySince = null) =>
        new(id, $"nick{id}", [.. Enumerable.Range(0, 32).Select(i => (byte)((id * 31) + (ulong)i))], 1_000 + (long)id, endpoint, awaySince);

    private static StoreWrite.NewAccount NewAccount(ulong id) => new(Account(id));

    private static StoreWrite.NewSession NewSession(ulong id, ulong first, ulong second) => new(new SessionRecord(id, first, second, 3_000));

    private static StoreWrite.NewSession Pairing(ulong id, ulong first, ulong second, ulong[] claims, int maxSessions = 0) =>
        new(new SessionRecord(id, first, second, 3_000), claims, maxSessions);

    private static MessageRecord MessageRecord(ulong id, ulong session, ulong sender) => new(id, session, sender, $"req-{id}", $"message {id} from {sender}", 10_000 + (long)id);

    private static StoreWrite.NewMessage Message(ulong id, ulong session, ulong sender) => new(MessageRecord(id, session, sender));

    private static StoreWrite.NewMessage Message(ulong id, ulong session, ulong sender, string requestId) => new(MessageRecord(id, session, sender) with { RequestId = requestId });

    private static IEnumerable<ulong> Ids(int first, int count) => Enumerable.Range(first, count).Select(i => (ulong)i);

    private static async Task<List<ulong>> ReplayIdsAsync(IChatStore store, ulong session, ulong receiver, ulong after, int limit) =>
        [.. (await store.ReadMessagesForAsync(session, receiver, after, limit, None)).Select(m => m.Id)];

    private static async Task<AccountState> StateOfAsync(IChatStore store, ulong accountId)
    {
        var account = await store.FindAccountAsync(accountId, None);
        Assert.NotNull(account);
        return new AccountState(account.Endpoint, account.AwaySinceUnixMs);
    }

    private static void AssertAccount(AccountRecord expected, AccountRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.NickName, actual.NickName);
        Assert.Equal(expected.TokenHash, actual.TokenHash);
        Assert.Equal(expected.CreatedAtUnixMs, actual.CreatedAtUnixMs);
        Assert.Equal(expected.Endpoint, actual.Endpoint);
        Assert.Equal(expected.AwaySinceUnixMs, actual.AwaySinceUnixMs);
    }

    private static void AssertDisjoint(IEnumerable<IdBlock> blocks)
    {
        foreach (var kind in blocks.GroupBy(b => b.Kind))
        {
            IdBlock? previous = null;
            foreach (var block in kind.OrderBy(b => b.First))
            {
                Assert.InRange(block.First, 1UL, IChatStore.IdLimit - (ulong)block.Count);
                Assert.True(previous is null || previous.Value.First + (ulong)previous.Value.Count <= block.First, $"{kind.Key} ids {previous} and {block} overlap");
                previous = block;
            }
        }
    }

    private readonly record struct AccountState(ClientEndpoint? Endpoint, long? AwaySinceUnixMs);

    private readonly record struct IdBlock(IdKind Kind, ulong First, int Count);
}
