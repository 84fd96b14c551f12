using Chat.Logic.Storage;
using Chat.Logic.Storage.MariaDb;
using Chat.Testing.Databases;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace Chat.Tests.Storage;

/// <summary>The store contract against a real mariadbd (the shared one of this test process), a new database and user per test.</summary>
public sealed class MariaDbStoreContractTests : StoreContractTests
{
    private MariaDbDatabase? _database;

    private MariaDbDatabase Database => _database ?? throw new InvalidOperationException("OpenAsync first.");

    private protected override async Task<IChatStore> OpenAsync()
    {
        var server = await MariaDbServer.Shared;
        _database = await server.CreateDatabaseAsync();
        return await OpenAgainAsync();
    }

    private protected override async Task<IChatStore> OpenAgainAsync()
    {
        var store = new MariaDbChatStore(Options.Create(new StoreOptions { Kind = "mariadb", ConnectionString = Database.ConnectionString }), TimeProvider.System, NullLogger<MariaDbChatStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    // Setting the counter directly: reaching 2^53 in blocks of int.MaxValue would take four million commits.
    private protected override async Task MoveNextIdToAsync(IChatStore store, IdKind kind, ulong nextId)
    {
        await using var connection = new MySqlConnection(Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand("UPDATE id_block SET next_id = @next WHERE kind = @kind;", connection);
        command.Parameters.AddWithValue("@next", nextId);
        command.Parameters.AddWithValue("@kind", kind.ToString().ToLowerInvariant());
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
