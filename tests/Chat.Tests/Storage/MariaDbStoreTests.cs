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
using Microsoft.Extensions.Time.Testing;
using MySqlConnector;

namespace Chat.Tests.Storage;

/// <summary>
/// What the MariaDB store does beyond the store contract: migrations shared by many nodes, a
/// refused write decided inside its batch's one commit, and neither the connection string nor a
/// database error text that quotes client data in the logs.
/// </summary>
public sealed class MariaDbStoreTests
{
    private static readonly string[] NoRateLimit = ["Chat:Broker:RateLimit:PerSecond=1000000", "Chat:Broker:RateLimit:Burst=1000000"];
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_resent_requestId_among_a_thousand_other_messages_is_decided_in_the_batch_which_commits_once()
    {
        // A private server: its commit counter counts this store's commits alone.
        await using var mariadb = await MariaDbServer.StartAsync();
        var database = await mariadb.CreateDatabaseAsync();
        await using var store = Open(database.ConnectionString);
        await store.InitializeAsync(CancellationToken.None);
        const int Visitors = 1_024;
        var setup = new List<StoreWrite>();
        for (var pair = 0UL; pair < Visitors / 2; pair++)
        {
            setup.AddRange([Account(100 + (2 * pair)), Account(101 + (2 * pair)), new StoreWrite.NewSession(new SessionRecord(10_000 + pair, 100 + (2 * pair), 101 + (2 * pair), 1_000))]);
        }

        await WriteAllAsync(store, [.. setup, Message(1, 10_000, 100, "lost-answer")]);
        var batch = Enumerable.Range(0, Visitors).Select(v => Message(10 + (ulong)v, 10_000 + ((ulong)v / 2), 100 + (ulong)v, $"r{v}")).ToList();
        batch.Insert(Visitors / 2, Message(5_000, 10_000, 100, "lost-answer"));
        var commits = await CommitsAsync(mariadb);

        var outcomes = new WriteOutcome[batch.Count];
        await store.WriteAsync(batch, outcomes, CancellationToken.None);

        Assert.Equal(commits + 1, await CommitsAsync(mariadb)); // one commit for all of them: nobody went again one by one
        Assert.Equal(WriteOutcome.AlreadyStoredAs(1), outcomes[Visitors / 2]);
        Assert.Equal(Visitors, outcomes.Count(o => o == WriteOutcome.Stored));
        Assert.Equal([1UL, 10, 11], (await store.ReadMessagesForAsync(10_000, 0, 0, 10, CancellationToken.None)).Select(m => m.Id));
    }

    [Fact]
    public async Task A_resent_requestId_that_quotes_a_log_line_never_reaches_the_log()
    {
        // MariaDB's duplicate-key error quotes the key's values: the client's requestId, line breaks and all.
        const string Forged = "x\n2025-01-01 [FORGED] admin logged in";
        var requestId = "x\n[FORGED] " + Guid.NewGuid().ToString("N")[..8];
        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        var logs = new CapturedLogs();

        // In a batch of its own neighbours (the writer held on a first write), then over a socket.
        await using (var inner = Open(database.ConnectionString))
        {
            var held = new GatedStore(inner); // not disposed: the test disposes the MariaDB store itself
            using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var writer = new StoreWriter(held, Options.Create(new StoreOptions()), new Chat.Logic.Diagnostics.LogicMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), TimeProvider.System, logs.CreateLogger<StoreWriter>());
            await held.InitializeAsync(CancellationToken.None);
            await writer.StartAsync(CancellationToken.None);
            await writer.WriteAsync(Account(1)).WaitAsync(Limit);
            await writer.WriteAsync(Account(2)).WaitAsync(Limit);
            await writer.WriteAsync(new StoreWrite.NewSession(new SessionRecord(10, 1, 2, 1_000))).WaitAsync(Limit);
            Assert.Equal(WriteOutcome.Stored, await writer.AppendAsync(Message(1, 10, 1, requestId).Message).WaitAsync(Limit));

            held.Hold();
            var first = writer.WriteAsync(new StoreWrite.WaitingAdded(1, 1));
            await held.Held.WaitAsync(Limit);
            var resent = writer.AppendAsync(Message(2, 10, 1, requestId).Message);
            var neighbours = Enumerable.Range(3, 5).Select(id => writer.AppendAsync(Message((ulong)id, 10, 2, $"n{id}").Message)).ToList();
            held.Release();
            await first.WaitAsync(Limit);
            Assert.Equal(WriteOutcome.AlreadyStoredAs(1), await resent.WaitAsync(Limit));
            Assert.All(await Task.WhenAll(neighbours).WaitAsync(Limit), o => Assert.Equal(WriteOutcome.Stored, o));
            await writer.StopAsync(CancellationToken.None);
            writer.Dispose();
        }

        var served = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        await using (var server = await ChatServer.StartWithServicesAsync(
            services => services.AddSingleton<ILoggerProvider>(logs),
            [.. NoRateLimit, "Logging:LogLevel:Default=Trace", "Chat:Store:Kind=mariadb", $"Chat:Store:ConnectionString={served.ConnectionString}"]))
        {
            var (alice, bob, sessionId) = await server.NewPairAsync();
            await using var a = alice;
            await using var b = bob;
            var firstSay = await alice.SayAsync(sessionId, "forged", requestId: Forged);
            Assert.Equal(0, firstSay.Code());
            for (var i = 0; i < 130; i++)
            {
                Assert.Equal(0, (await alice.SayAsync(sessionId, $"later {i}")).Code()); // past the grain's own cache: the store answers
            }

            var retried = await alice.SayAsync(sessionId, "forged", requestId: Forged);
            Assert.Equal(firstSay.ULong("msgId"), retried.ULong("msgId"));
        }

        Assert.NotEmpty(logs.Lines);
        Assert.DoesNotContain(logs.Lines, line => line.Contains("[FORGED]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reads_past_the_nodes_connections_hear_busy_and_the_breaker_stays_closed_for_the_reads_after_them()
    {
        var database = await (await MariaDbServer.Shared).CreateDatabaseAsync();
        var options = new StoreOptions { Kind = "mariadb", ConnectionString = database.ConnectionString, Connections = 2, QueueTimeout = TimeSpan.FromMilliseconds(200) };

        // The breaker's clock never moves: had anything opened it, every read after would fail.
        var dialect = new MariaDbDialect(options, StoreResilience.Build(new FakeTimeProvider()), NullLogger.Instance);
        await using var store = new MariaDbChatStore(dialect, NullLogger.Instance);
        await store.InitializeAsync(CancellationToken.None);
        await WriteAllAsync(store, [Account(1)]);

        // Two slow reads hold the node's two connections (each has run a statement on its own).
        var held = 0;
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = Enumerable.Range(0, 2).Select(_ => dialect.RunAsync(
            async (connection, ct) =>
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT CONNECTION_ID();";
                var id = Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
                if (Interlocked.Increment(ref held) == 2)
                {
                    holding.SetResult();
                }

                await release.Task;
                return id;
            },
            CancellationToken.None)).ToList();
        await holding.Task.WaitAsync(Limit);

        // A storm of reads meanwhile: each told "busy" once its wait is up, none "unreachable".
        var storm = Enumerable.Range(0, 20).Select(_ => store.FindAccountAsync(1, CancellationToken.None)).ToList();
        foreach (var read in storm)
        {
            var busy = await Assert.ThrowsAsync<StoreUnavailableException>(() => read.WaitAsync(Limit));
            Assert.False(busy.Unreachable);
            Assert.Contains("busy", busy.Message, StringComparison.Ordinal);
        }

        // The slow reads done, the next read is served: the storm did not count as a database gone.
        release.SetResult();
        Assert.Equal(2, (await Task.WhenAll(slow).WaitAsync(Limit)).Distinct().Count());
        Assert.Equal("nick1", (await store.FindAccountAsync(1, CancellationToken.None).WaitAsync(Limit))?.NickName);
    }

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

        Assert.Equal([("1", 1L), ("2", 1L), ("3", 1L), ("4", 1L), ("5", 1L), ("6", 1L)], applied);
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

    private static async Task<long> CommitsAsync(MariaDbServer mariadb) =>
        Convert.ToInt64(await mariadb.AdminScalarAsync("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_COMMIT';"), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task WriteAllAsync(IChatStore store, StoreWrite[] batch)
    {
        var outcomes = new WriteOutcome[batch.Length];
        await store.WriteAsync(batch, outcomes, CancellationToken.None);
        Assert.All(outcomes, o => Assert.Equal(WriteOutcome.Stored, o));
    }

    private static StoreWrite.NewAccount Account(ulong id) => new(new AccountRecord(id, $"nick{id}", new byte[32], 1_000));

    private static StoreWrite.NewMessage Message(ulong id, ulong session, ulong sender, string requestId) =>
        new(new MessageRecord(id, session, sender, requestId, $"message {id}", 2_000));

    /// <summary>Every log line and exception the server writes, at every level.</summary>
    private sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IEnumerable<string> Lines => _lines;

        public ILogger<T> CreateLogger<T>() => new LoggerFactory([this]).CreateLogger<T>();

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
