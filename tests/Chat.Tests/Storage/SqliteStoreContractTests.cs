using Chat.Logic.Storage;
using Chat.Logic.Storage.Sqlite;
using Chat.Testing.Files;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Chat.Tests.Storage;

public sealed class SqliteStoreContractTests : StoreContractTests, IDisposable
{
    // xunit makes an instance per test: each test gets a folder, and so a file, of its own.
    private readonly TempFolder _folder = TempFolder.Create("chat-contract-");

    // The clock moves on each time the writer looks at it, so commits index some sessions and leave
    // others for later: the reads see messages on both sides of the index, deterministically.
    private readonly FakeTimeProvider _clock = new() { AutoAdvanceAmount = TimeSpan.FromMilliseconds(40) };

    private string DataFile => _folder.File("chat.db");

    private protected override Task<IChatStore> OpenAsync() => OpenOnFileAsync();

    private protected override Task<IChatStore> OpenAgainAsync() => OpenOnFileAsync();

    // Setting the counter directly: reaching 2^53 in blocks of int.MaxValue would take four million commits.
    private protected override async Task MoveNextIdToAsync(IChatStore store, IdKind kind, ulong nextId)
    {
        await using var connection = await ConnectAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE id_block SET next_id = $next WHERE kind = $kind;";
        command.Parameters.AddWithValue("$next", (long)nextId);
        command.Parameters.AddWithValue("$kind", kind.ToString().ToLowerInvariant());
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }

    private async Task<IChatStore> OpenOnFileAsync()
    {
        var options = Options.Create(new StoreOptions { Path = DataFile });
        var store = new SqliteChatStore(options, _clock, NullLogger<SqliteChatStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private async Task<SqliteConnection> ConnectAsync()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DataFile, Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }
}
