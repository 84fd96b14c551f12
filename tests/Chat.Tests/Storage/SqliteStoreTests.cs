using Chat.Logic.Storage;
using Chat.Logic.Storage.Sqlite;
using Chat.Protocol.Seams;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Storage;

/// <summary>
/// The SQLite store indexes messages by session in bulk, each session about once a second (a
/// sixteenth of the sessions at a time): replays and restarts must find every message whether or
/// not it has reached that index yet.
/// </summary>
public sealed class SqliteStoreTests : IDisposable
{
    private const ulong Alice = 1, Bob = 2, Session = 10;
    private const ulong SqliteWriterSlices = 16;
    private readonly string _folder = Directory.CreateTempSubdirectory("chat-store-").FullName;
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public async Task A_replay_finds_indexed_and_not_yet_indexed_messages_once_each_in_order()
    {
        await using var store = await OpenAsync();
        const ulong SameSlice = Session + SqliteWriterSlices;
        await WriteAsync(store, [Account(Alice), Account(Bob), new StoreWrite.NewSession(new SessionRecord(Session, Alice, Bob, 0)), new StoreWrite.NewSession(new SessionRecord(SameSlice, Alice, Bob, 0))]);
        await SendAsync(store, 1, 2, 3);          // not indexed yet
        _clock.Advance(TimeSpan.FromSeconds(2));
        await SendAsync(store, 4, 5);             // this commit indexes 1-5
        await SendAsync(store, 6, 7);             // not indexed yet
        _clock.Advance(TimeSpan.FromSeconds(2));
        await SendAsync(store, 9);                // indexes 6, 7 and 9 ...
        await WriteAsync(store, [Message(8, Alice, SameSlice)]); // ... and 8 of another session in its slice commits after it, not indexed
        await WriteAsync(store, [Message(20, sender: Bob)]); // Bob's own: never replayed to him

        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 9], await ReplayIdsAsync(store, after: 0, limit: 256));
        Assert.Equal([1, 2, 3, 4], await ReplayIdsAsync(store, after: 0, limit: 4));
        Assert.Equal([5, 6, 7, 9], await ReplayIdsAsync(store, after: 4, limit: 4));
        Assert.Equal([9], await ReplayIdsAsync(store, after: 7, limit: 4));
        Assert.Equal([8], await ReplayIdsAsync(store, after: 0, limit: 4, SameSlice));
    }

    [Fact]
    public async Task Sessions_indexed_at_different_times_each_replay_every_message_once()
    {
        // Sessions 10 and 11 fall in different index slices, and one commit indexes one slice at most.
        const ulong Other = 11;
        var slice = TimeSpan.FromSeconds(1);
        await using var store = await OpenAsync();
        await WriteAsync(store, [Account(Alice), Account(Bob), new StoreWrite.NewSession(new SessionRecord(Session, Alice, Bob, 0)), new StoreWrite.NewSession(new SessionRecord(Other, Alice, Bob, 0))]);
        await WriteAsync(store, [Message(1, Alice), Message(2, Alice, Other), Message(3, Alice), Message(4, Alice, Other)]);
        _clock.Advance(slice);
        await WriteAsync(store, [Message(5, Alice, Other)]);    // indexes one of the two sessions
        await WriteAsync(store, [Message(7, Alice)]);           // too soon to index the other
        await WriteAsync(store, [Message(6, Alice, Other)]);    // commits after 7
        _clock.Advance(slice);
        await WriteAsync(store, [Message(8, Alice, Other)]);    // indexes the other
        _clock.Advance(slice);
        await WriteAsync(store, [Message(9, Alice)]);           // indexes the first again
        await WriteAsync(store, [Message(11, Alice)]);          // not indexed yet ...
        await WriteAsync(store, [Message(10, Alice, Other)]);   // ... nor this, which commits after 11

        Assert.Equal([1, 3, 7, 9, 11], await ReplayIdsAsync(store, after: 0, limit: 256));
        Assert.Equal([2, 4, 5, 6, 8, 10], await ReplayIdsAsync(store, after: 0, limit: 256, Other));
        Assert.Equal([5, 6], await ReplayIdsAsync(store, after: 4, limit: 2, Other));
        Assert.Equal([9, 11], await ReplayIdsAsync(store, after: 7, limit: 256));
    }

    [Fact]
    public async Task After_a_restart_the_active_session_carries_its_last_id_and_recent_request_ids()
    {
        await using (var store = await OpenAsync())
        {
            await WriteAsync(store, [Account(Alice), Account(Bob), new StoreWrite.NewSession(new SessionRecord(Session, Alice, Bob, 0))]);
            await SendAsync(store, Enumerable.Range(1, 200).Select(i => (ulong)i).ToArray()); // none indexed when the process stops
            await WriteAsync(store, [Message(201, sender: Bob)]);
        }

        SqliteConnection.ClearAllPools();
        await using var again = await OpenAsync();
        var session = await again.LoadSessionAsync(Session, CancellationToken.None);
        Assert.NotNull(session);
        Assert.Equal(201UL, session.LastMsgId);

        // The last 128 of Alice's and Bob's one, oldest first.
        var alices = session.First.RecentRequests;
        Assert.Equal(Enumerable.Range(73, 128).Select(i => $"req-{i}"), alices.Select(r => r.RequestId));
        Assert.Equal(Enumerable.Range(73, 128).Select(i => (ulong)i), alices.Select(r => r.MsgId));
        Assert.Equal(new SentRequest("req-201", 201), Assert.Single(session.Second.RecentRequests));
        Assert.Equal(200, (await ReplayIdsAsync(again, after: 0, limit: 256)).Count);
    }

    [Fact]
    public async Task A_file_made_by_the_store_as_it_was_opens_unchanged_and_reads_back_whole()
    {
        // Files/chat-v5-at-2229b22.db was written by the SQLite store at commit 2229b22 (schema V5):
        // five accounts, an active session (10) with 40 messages, 1-30 indexed and 31-40 not, an ended
        // one (11) with 5 not indexed, delivery and read marks, a waiting visitor, reserved id blocks.
        var file = Path.Combine(_folder, "chat.db");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Storage", "Files", "chat-v5-at-2229b22.db"), file);
        await using var store = await OpenAsync();
        var none = CancellationToken.None;

        var alice = await store.FindAccountAsync(1, none);
        Assert.Equal(("alice", new ClientEndpoint("north", 41), (long?)null, 1_000L), (alice?.NickName, alice?.Endpoint, alice?.AwaySinceUnixMs, alice?.CreatedAtUnixMs));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)(7 + i)), alice!.TokenHash);
        Assert.Equal("Zoë 🙂", (await store.FindAccountAsync(2, none))?.NickName);
        Assert.Equal(31_000L, (await store.FindAccountAsync(5, none))?.AwaySinceUnixMs);
        Assert.Null((await store.FindAccountAsync(3, none))?.Endpoint);

        var talk = await store.LoadSessionAsync(10, none);
        Assert.NotNull(talk);
        Assert.Equal(new SessionRecord(10, 1, 2, 2_000), talk.Session);
        Assert.Equal(40UL, talk.LastMsgId);
        Assert.Equal((21UL, 18UL, 30UL, 25UL), (talk.First.DeliveredUpTo, talk.First.ViewedUpTo, talk.Second.DeliveredUpTo, talk.Second.ViewedUpTo));
        var alicesIds = Enumerable.Range(1, 40).Where(i => i % 3 != 0).Select(i => (ulong)i).ToList();
        Assert.Equal(alicesIds, talk.First.RecentRequests.Select(r => r.MsgId));
        Assert.Equal("🙂-Ab ", talk.First.RecentRequests[^1].RequestId);
        var toBob = await store.ReadMessagesForAsync(10, 2, 0, 100, none);
        Assert.Equal(alicesIds, toBob.Select(m => m.Id));
        Assert.Equal(new MessageRecord(35, 10, 1, "req-35", "message 35 from 1 ' \" 漢字", 10_035), toBob.Single(m => m.Id == 35));
        Assert.Equal(Enumerable.Range(1, 40).Where(i => i % 3 == 0).Select(i => (ulong)i), (await store.ReadMessagesForAsync(10, 1, 0, 100, none)).Select(m => m.Id));

        var ended = await store.LoadSessionAsync(11, none);
        Assert.Equal((30_000L, 45UL), (ended?.Session.EndedAtUnixMs, ended?.LastMsgId));
        Assert.Equal([41UL, 42, 43, 44, 45], (await store.ReadMessagesForAsync(11, 5, 0, 100, none)).Select(m => m.Id));
        Assert.Equal([10UL], await store.FindActiveSessionsAsync(1, none));
        Assert.Equal([new WaitingEntry(4, 6_000)], await store.LoadWaitingAsync(none));
        Assert.Equal(new ChatCounts(Online: 3, Waiting: 1, ActiveSessions: 1), await store.ReadCountsAsync(none));
        Assert.Equal(["north", "south"], await store.FindBrokersAsync(none));
        Assert.Equal([5UL], await store.FindAwaySinceAsync(long.MaxValue, 10, none));
        Assert.True(await store.ReserveIdsAsync(IdKind.Message, 10, none) >= 16_385);
        Assert.True(await store.ReserveIdsAsync(IdKind.Account, 1, none) >= 257);

        // Its requestIds are known however old, indexed or not, and the session goes on.
        var outcomes = new WriteOutcome[3];
        await store.WriteAsync([new StoreWrite.NewMessage(toBob[0] with { Id = 46 }), new StoreWrite.NewMessage(toBob[^1] with { Id = 47 }), Message(48, sender: Bob)], outcomes, none);
        Assert.Equal([WriteOutcome.AlreadyStoredAs(1), WriteOutcome.AlreadyStoredAs(40), WriteOutcome.Stored], outcomes);

        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM schema_changelog;";
        Assert.Equal(9L, await command.ExecuteScalarAsync()); // V0 (Evolve's own row) to V5 as it was, then V6 (the broker's incarnation), V7 (moderation) and V8 (the waiting visitor's profile) applied
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<SqliteChatStore> OpenAsync()
    {
        var options = Options.Create(new StoreOptions { Path = Path.Combine(_folder, "chat.db"), IndexDelay = TimeSpan.FromSeconds(1) });
        var store = new SqliteChatStore(options, _clock, NullLogger<SqliteChatStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static Task SendAsync(SqliteChatStore store, params ulong[] ids) =>
        WriteAsync(store, [.. ids.Select(id => Message(id, sender: Alice))]);

    private static async Task WriteAsync(SqliteChatStore store, StoreWrite[] batch)
    {
        var outcomes = new WriteOutcome[batch.Length];
        await store.WriteAsync(batch, outcomes, CancellationToken.None);
        Assert.All(outcomes, outcome => Assert.Equal(WriteOutcome.Stored, outcome));
    }

    private static StoreWrite.NewAccount Account(ulong id) => new(new AccountRecord(id, $"a{id}", new byte[32], 0));

    private static StoreWrite.NewMessage Message(ulong id, ulong sender, ulong session = Session) =>
        new(new MessageRecord(id, session, sender, $"req-{id}", $"m{id}", 0));

    private static async Task<List<ulong>> ReplayIdsAsync(SqliteChatStore store, ulong after, int limit, ulong session = Session) =>
        [.. (await store.ReadMessagesForAsync(session, Bob, after, limit, CancellationToken.None)).Select(m => m.Id)];
}
