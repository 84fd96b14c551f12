using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Chat.Logic.Storage;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Storage;

/// <summary>What SQLite keeps on disk is the visitors' words: only the chat's user may read the files, and a deleted chat is gone from them.</summary>
public sealed class DataAtRestTests
{
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    [UnsupportedOSPlatform("windows")] // Unix file modes
    public async Task The_data_folder_the_server_makes_and_its_database_files_are_the_users_alone()
    {
        using var parent = TempFolder.Create("chat-data-");
        var folder = parent.File("store");
        await using var server = await ChatServer.StartAsync($"Chat:Store:Path={Path.Combine(folder, "chat.db")}");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        Assert.Equal(0, (await alice.SayAsync(sessionId, "between us")).Code());

        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(folder));
        foreach (var file in new[] { "chat.db", "chat.db-wal", "chat.db-shm" })
        {
            Assert.Equal((file, OwnerOnlyFile), (file, File.GetUnixFileMode(Path.Combine(folder, file))));
        }
    }

    [Fact]
    public async Task A_chat_deleted_after_the_retention_leaves_none_of_its_text_in_the_database_file()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var marker = $"forget-me-{Guid.NewGuid():N}";
        string database;
        await using (var server = await ChatServer.StartWithClockAsync(clock, "Chat:Store:Retention=00:10:00", "Chat:Store:RetentionSweepInterval=00:00:01"))
        {
            database = Path.Combine(server.DataDirectory, "chat.db");
            var store = server.Get<IChatStore>();
            var (carol, dave, kept) = await server.NewPairAsync("carol", "dave");
            await using var c = carol;
            await using var d = dave;
            var (alice, bob, sessionId) = await server.NewPairAsync();
            await using var a = alice;
            await using var b = bob;
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(0, (await carol.SayAsync(kept, $"still talking {i}")).Code());
                Assert.Equal(0, (await alice.SayAsync(sessionId, $"{marker} {i}")).Code());
            }

            Assert.Equal(0, (await alice.RequestAsync(new { cmd = "END_SESSION_REQ", sessionId }, "END_SESSION_RESP")).Code());
            clock.Advance(TimeSpan.FromMinutes(11));
            var waited = Stopwatch.StartNew();
            while (await store.LoadSessionAsync(sessionId, CancellationToken.None) is not null)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(15), "the ended session was not deleted");
                await Task.Delay(20);
            }

            Assert.Equal(5, (await store.ReadMessagesForAsync(kept, dave.AccountId, 0, 10, CancellationToken.None)).Count);
            await server.StopAsync(); // the last connection closes: the write-ahead log goes into the file
            Assert.False(File.Exists(database + "-wal"));
            var bytes = await File.ReadAllBytesAsync(database);
            Assert.True(bytes.AsSpan().IndexOf("still talking 4"u8) >= 0, "the chat that goes on is in the file"); // so the search below can find text
            Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) < 0, "a deleted message's text is still in the file");
        }
    }
}
