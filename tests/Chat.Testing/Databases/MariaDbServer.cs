using System.Security.Cryptography;
using Chat.Testing.Files;
using Chat.Testing.Network;
using Chat.Testing.Processes;
using MySqlConnector;

namespace Chat.Testing.Databases;

/// <summary>
/// A private <c>mariadbd</c>: its own data folder (made with <c>mariadb-install-db</c>), socket and
/// free loopback port, listening on 127.0.0.1 only, with deploy/mariadb/chat.cnf's settings. The
/// chat's databases on it are made by deploy/mariadb/chat-database.sql, the one bootstrap every
/// place runs. Tests use a throwaway one (<see cref="StartAsync()"/>; <see cref="Shared"/> is one
/// per test process, a database each); the local cluster one in its folder, kept with its data.
/// Only the process this class started is ever signalled, by its PID.
/// </summary>
/// <remarks>
/// If MariaDB is not installed or does not start, the caller fails and is told why: a store test
/// that quietly skipped would claim a contract nobody checked.
/// </remarks>
public sealed class MariaDbServer : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private static readonly string[] SearchFolders = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"];
    private static readonly Lazy<Task<MariaDbServer>> SharedServer = new(StartSharedAsync);
    private static int _databases;

    private readonly string _folder;
    private readonly TempFolder? _temporary;
    private readonly string[] _options;
    private OwnedProcess? _process;

    private MariaDbServer(string folder, TempFolder? temporary, string log, int port, string[] options, NetworkPlace place)
    {
        _folder = folder;
        _temporary = temporary;
        Log = log;
        Port = port;
        _options = options;
        Place = place;
    }

    /// <summary>Where it runs: loopback, or a host of a fault network (its Unix socket, a file, is reached from anywhere).</summary>
    public NetworkPlace Place { get; }

    /// <summary>The server every test of this process may share (a database each); started on first use.</summary>
    public static Task<MariaDbServer> Shared => SharedServer.Value;

    public int Port { get; }

    public string DataDirectory => Path.Combine(_folder, "data");

    public string SocketPath => Path.Combine(_folder, "mariadb.sock");

    /// <summary>Where mariadbd's error log and output go.</summary>
    public string Log { get; }

    /// <summary>The PID of the running <c>mariadbd</c>.</summary>
    public int ProcessId => Running().Id;

    /// <summary>Root over the Unix socket, for setting up databases and users.</summary>
    public string AdminConnectionString => new MySqlConnectionStringBuilder
    {
        Server = SocketPath,
        ConnectionProtocol = MySqlConnectionProtocol.UnixSocket,
        UserID = "root",
        Pooling = false,
        ConnectionTimeout = 5,
        AllowUserVariables = true, // the bootstrap script's @chat_… variables
    }.ConnectionString;

    /// <summary>A throwaway server in a new temp folder, deleted on dispose.</summary>
    public static async Task<MariaDbServer> StartAsync()
    {
        var temporary = TempFolder.Create("chat-mariadb-");
        try
        {
            return await StartAsync(temporary.Path, temporary.File("mariadb.log"), [], temporary, null, NetworkPlace.Loopback, CancellationToken.None);
        }
        catch
        {
            temporary.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A server in <paramref name="folder"/> (its data made there on the first start, kept after),
    /// logging to <paramref name="log"/>, on <paramref name="port"/> or a new free one;
    /// <paramref name="options"/> go to mariadbd after this class's own, so they win. Waits until it
    /// accepts connections.
    /// </summary>
    public static Task<MariaDbServer> StartAsync(string folder, string log, IEnumerable<string> options, int? port, CancellationToken cancellationToken, NetworkPlace? place = null) =>
        StartAsync(folder, log, [.. options], null, port, place ?? NetworkPlace.Loopback, cancellationToken);

    /// <summary>
    /// A new empty database for a test and a user of its own for it, made by the bootstrap script
    /// (so tests run with exactly the privileges deployments get), reached over TCP on 127.0.0.1.
    /// </summary>
    public Task<MariaDbDatabase> CreateDatabaseAsync()
    {
        var name = $"chat_test_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}";
        return CreateDatabaseAsync(name, name, CancellationToken.None);
    }

    /// <summary>
    /// Database <paramref name="name"/> and user <paramref name="user"/>@127.0.0.1 (in a fault network: any host
    /// of its subnet) with a new random password, by deploy/mariadb/chat-database.sql; an existing database keeps its data.
    /// </summary>
    public async Task<MariaDbDatabase> CreateDatabaseAsync(string name, string user, CancellationToken cancellationToken)
    {
        var from = Place.IsLoopback ? "127.0.0.1" : string.Join('.', Place.Host.Split('.')[..3]) + ".%";
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(18));
        await using (var connection = new MySqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new MySqlCommand("SET @chat_database = @database, @chat_user = @user, @chat_host = @from, @chat_password = @password;\n" + DeployFiles.DatabaseBootstrap, connection);
            command.Parameters.AddWithValue("@database", name);
            command.Parameters.AddWithValue("@user", user);
            command.Parameters.AddWithValue("@password", password);
            command.Parameters.AddWithValue("@from", from);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        string ConnectionString(System.Net.IPEndPoint at) => new MySqlConnectionStringBuilder
        {
            Server = at.Address.ToString(),
            Port = (uint)at.Port,
            UserID = user,
            Password = password,
            Database = name,
        }.ConnectionString;
        return new MariaDbDatabase(name, password, ConnectionString(new(Place.Address, Port))) { DoorConnectionString = ConnectionString(Place.Door(Port)) };
    }

    /// <summary>Runs SQL as root (Unix socket) and returns the first column of the first row, if any.</summary>
    public async Task<object?> AdminScalarAsync(string sql)
    {
        await using var connection = new MySqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? null : value;
    }

    /// <summary>Stops <c>mariadbd</c> as a service stop would (SIGTERM, then waits; SIGKILL only if it does not stop).</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        try
        {
            process.Resume(); // a paused server cannot act on SIGTERM
            await process.StopAsync(StopTimeout, killAfter: true);
        }
        finally
        {
            await process.DisposeAsync();
        }
    }

    /// <summary>Starts <c>mariadbd</c> (again) on the same port and data folder and waits until it accepts connections.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("mariadbd is running");
        }

        File.WriteAllText(Path.Combine(_folder, "chat.cnf"), DeployFiles.MariaDbSettings);
        var (program, arguments) = Place.Launch(Find("mariadbd"), ServerArguments());
        var process = OwnedProcess.StartLogged("mariadb", Log, program, arguments);
        _process = process;
        try
        {
            // mariadbd listens on its port and its socket before it takes the first connection on either.
            await process.WaitUntilReadyAsync(
                async token =>
                {
                    await using var connection = new MySqlConnection(AdminConnectionString);
                    await connection.OpenAsync(token);
                    return true;
                },
                StartTimeout,
                "accepting connections",
                cancellationToken);
        }
        catch (PortTakenException)
        {
            _process = null;
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGSTOP: the server stops answering but its sockets stay open, as a hung or unreachable database looks to its clients.</summary>
    public void Pause() => Running().Pause();

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Running().Resume();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _temporary?.Dispose();
        }
    }

    private static Task<MariaDbServer> StartAsync(string folder, string log, string[] options, TempFolder? temporary, int? port, NetworkPlace place, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        return PortTakenException.RetryAsync(port is not null, async () =>
        {
            var server = new MariaDbServer(folder, temporary, log, port ?? LoopbackPort.ForListening(), options, place);
            try
            {
                await server.InstallAsync(cancellationToken);
                await server.StartAgainAsync(cancellationToken);
                return server;
            }
            catch (Exception ex) when (ex is not PortTakenException)
            {
                await server.StopAsync(); // one that does not answer in time is not left running
                throw;
            }
        });
    }

    private static async Task<MariaDbServer> StartSharedAsync()
    {
        RemoveAbandonedFolders();
        var server = await StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().Wait(StopTimeout);
        return server;
    }

    /// <summary>
    /// Data folders that earlier test processes left behind (a test host may be ended before its exit
    /// handler has deleted one): ten minutes old and with no mariadbd running from them.
    /// </summary>
    private static void RemoveAbandonedFolders()
    {
        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), "chat-mariadb-*"))
        {
            try
            {
                var running = RecordedProcess.Read(Path.Combine(folder, "mariadbd.pid"), folder) is { IsRunning: true };
                if (!running && Directory.GetLastWriteTimeUtc(folder) < DateTime.UtcNow.AddMinutes(-10))
                {
                    Directory.Delete(folder, recursive: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // another process's, or going away anyway
            }
        }
    }

    /// <summary>A new data folder, unless there is one already (the local cluster keeps its chat history).</summary>
    private async Task InstallAsync(CancellationToken cancellationToken)
    {
        if (Directory.Exists(Path.Combine(DataDirectory, "mysql")))
        {
            return;
        }

        string[] arguments =
        [
            "--no-defaults", .. AsRoot(), $"--datadir={DataDirectory}", "--auth-root-authentication-method=normal",
            "--skip-test-db", "--innodb-log-file-size=16M",
        ];
        await using var install = OwnedProcess.StartLogged("mariadb-install-db", Log, Find("mariadb-install-db"), arguments);
        await install.ExitedAsync(StartTimeout).WaitAsync(cancellationToken);
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"mariadb-install-db failed (code {install.ExitCode}); {Log}:\n{install.Output}");
        }
    }

    // chat.cnf first (--defaults-file must be), then what a server on one shared machine wants: small
    // and quick to start, no binary log, a small buffer pool and redo log. Durability stays MariaDB's
    // default (innodb_flush_log_at_trx_commit=1), as the chat is run against it. A stop skips
    // flushing its buffers (innodb_fast_shutdown=2: 20 ms instead of a second; the next start
    // recovers from the redo log, as after a crash): a test host is ended shortly after its last
    // test, and the server must be gone, and its folder deleted, by then.
    private string[] ServerArguments() =>
    [
        $"--defaults-file={Path.Combine(_folder, "chat.cnf")}",
        .. AsRoot(),
        $"--datadir={DataDirectory}",
        $"--socket={SocketPath}",
        $"--port={Port}",
        $"--bind-address={Place.Host}",
        $"--pid-file={Path.Combine(_folder, "mariadbd.pid")}",
        $"--log-error={Log}",
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M",
        "--innodb-fast-shutdown=2",
        .. _options,
    ];

    private static string[] AsRoot() => Signals.IsRoot ? ["--user=root"] : [];

    private OwnedProcess Running() => _process ?? throw new InvalidOperationException("mariadbd is not running");

    private static string Find(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH")?.Split(':', StringSplitOptions.RemoveEmptyEntries) ?? [];
        foreach (var folder in path.Concat(SearchFolders))
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"MariaDB is not installed: {program} is neither on PATH nor in {string.Join(", ", SearchFolders)}. " +
            "It is needed for a real mariadbd: install it with `apt-get install -y mariadb-server` (bash .ci/run does).");
    }
}

/// <summary>A database made for one test, with its own user: <see cref="ConnectionString"/> as the nodes reach it.</summary>
public sealed record MariaDbDatabase(string Name, string Password, string ConnectionString)
{
    /// <summary>As this process reaches it (the same on loopback; through a door into its namespace in a fault network).</summary>
    public string DoorConnectionString { get; init; } = ConnectionString;
}
