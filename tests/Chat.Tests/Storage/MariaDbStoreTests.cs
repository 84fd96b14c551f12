using System.Collections.Concurrent;
using Chat.Logic.Storage;
using Chat.Logic.Storage.MariaDb;
using Chat.Testing.Databases;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace Chat.Tests.Storage;

/// <summary>What the MariaDB store does beyond the store contract: migrations shared by many nodes, and the connection string kept secret.</summary>
public sealed class MariaDbStoreTests
{
    [Fact]
    public async Task Nodes_starting_at_once_on_an_empty_database_apply_each_migration_once()
    {
        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        var stores = Enumerable.Range(0, 4).Select(_ => Open(database.ConnectionString)).ToList();

        await Task.WhenAll(stores.Select(store => Task.Run(() => store.InitializeAsync(CancellationToken.None))));

        await using var connection = new MySqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand("SELECT version, COUNT(*) FROM schema_changelog WHERE success = 1 AND name LIKE 'V%.sql' GROUP BY version ORDER BY version;", connection);
        var applied = new List<(string Version, long Times)>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                applied.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        Assert.Equal([("1", 1L), ("2", 1L), ("3", 1L)], applied);
        foreach (var store in stores)
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_password_is_never_logged_nor_in_errors_and_the_log_says_where_the_store_is()
    {
        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        var logs = new CapturedLogs();
        await using (var server = await ChatServer.StartWithServicesAsync(
            services => services.AddSingleton<ILoggerProvider>(logs),
            "Logging:LogLevel:Default=Trace",
            "Chat:Store:Kind=mariadb",
            $"Chat:Store:ConnectionString={database.ConnectionString}"))
        {
            var (alice, bob, sessionId) = await server.NewPairAsync();
            await using var a = alice;
            await using var b = bob;
            Assert.Equal(0, (await alice.SayAsync(sessionId, "hello")).Code());
        }

        Assert.Contains(logs.Lines, line => line.Contains($"{database.Name}@127.0.0.1:", StringComparison.Ordinal) && line.Contains($"/{database.Name} ready", StringComparison.Ordinal));

        // A wrong password: the start fails, and says so without the password.
        var wrong = new MySqlConnectionStringBuilder(database.ConnectionString) { Password = "Wrong-" + database.Password }.ConnectionString;
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => ChatServer.StartWithServicesAsync(
            services => services.AddSingleton<ILoggerProvider>(logs),
            "Logging:LogLevel:Default=Trace",
            "Chat:Store:Kind=mariadb",
            $"Chat:Store:ConnectionString={wrong}"));
        Assert.Contains("Access denied", failure.ToString(), StringComparison.Ordinal);

        Assert.NotEmpty(logs.Lines);
        foreach (var text in logs.Lines.Append(failure.ToString()))
        {
            Assert.DoesNotContain(database.Password, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_connection_string_can_be_read_from_a_file()
    {
        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        using var folder = TempFolder.Create("chat-secret-");
        await File.WriteAllTextAsync(folder.File("connection"), database.ConnectionString + "\n");

        await using var server = await ChatServer.StartAsync("Chat:Store:Kind=mariadb", $"Chat:Store:ConnectionStringFile={folder.File("connection")}");

        Assert.IsType<MariaDbChatStore>(server.Get<IChatStore>());
        await using var alice = await server.NewVisitorAsync("alice");
        Assert.NotNull(await server.Get<IChatStore>().FindAccountAsync(alice.AccountId, CancellationToken.None));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Server=127.0.0.1;Password=secret-pw;No Such Option=1")]
    public async Task MariaDB_without_a_usable_connection_string_is_refused_at_start_without_repeating_it(string connectionString)
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => ChatServer.StartAsync("Chat:Store:Kind=mariadb", $"Chat:Store:ConnectionString={connectionString}"));

        Assert.Contains("Chat:Store:ConnectionString", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-pw", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_READMEs_connection_string_gets_short_timeouts_unless_it_sets_its_own_and_is_described_without_its_password()
    {
        var given = MariaDbConnectionString.WithDefaults("Server=127.0.0.1;Port=3306;User=chat;Password=pa55word;Database=chat");
        var own = MariaDbConnectionString.WithDefaults("Server=127.0.0.1;User=chat;Password=pa55word;Database=chat;Connect Timeout=7;Default Command Timeout=9");

        var builder = new MySqlConnectionStringBuilder(given);
        Assert.Equal(("chat", 2u, 2u, -1), (builder.UserID, builder.ConnectionTimeout, builder.DefaultCommandTimeout, builder.CancellationTimeout));
        var ownBuilder = new MySqlConnectionStringBuilder(own);
        Assert.Equal((7u, 9u), (ownBuilder.ConnectionTimeout, ownBuilder.DefaultCommandTimeout));
        Assert.Equal("chat@127.0.0.1:3306/chat", MariaDbConnectionString.Describe(given));
        Assert.DoesNotContain("pa55word", MariaDbConnectionString.Describe(given), StringComparison.Ordinal);
    }

    private static MariaDbChatStore Open(string connectionString) =>
        new(Options.Create(new StoreOptions { Kind = "mariadb", ConnectionString = connectionString }), TimeProvider.System, NullLogger<MariaDbChatStore>.Instance);

    /// <summary>Every log line and exception the server writes, at every level.</summary>
    private sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IEnumerable<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturedLogs logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs._lines.Enqueue(formatter(state, exception) + (exception is null ? "" : "\n" + exception));
        }
    }
}
