using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Chat.Testing.Files;
using Chat.Testing.Network;
using MySqlConnector;

namespace Chat.Testing.Databases;

/// <summary>
/// A private <c>mariadbd</c> for tests: its own data folder (made with <c>mariadb-install-db</c>),
/// socket and free loopback port, listening on 127.0.0.1 only, run as root with <c>--user=root</c>.
/// <see cref="Shared"/> is one server per test process (started on first use, stopped by its PID
/// when the process exits); a test that stops, pauses or breaks its database starts one of its own.
/// Only the process this fixture started is ever signalled, by its PID.
/// </summary>
/// <remarks>
/// If MariaDB is not installed or does not start, the test fails and says why: a store test that
/// quietly skipped would claim a contract nobody checked.
/// </remarks>
public sealed class MariaDbServer : IAsyncDisposable
{
    /// <summary>
    /// What the chat's database user needs on its database (README, "MariaDB"): reading and writing
    /// rows, creating and altering tables and indexes (migrations), and creating and running the
    /// stored procedure Orleans' clustering calls. Tests create every user with exactly these, so
    /// they check the grants too.
    /// </summary>
    public const string ChatGrants = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE";

    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private const int SigKill = 9;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;

    private static readonly string[] SearchFolders = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"];
    private static readonly Lazy<Task<MariaDbServer>> SharedServer = new(StartSharedAsync);
    private static int _databases;

    private readonly TempFolder _folder;
    private readonly string _mariadbd;
    private Process? _process;

    private MariaDbServer(TempFolder folder, string mariadbd, int port)
    {
        _folder = folder;
        _mariadbd = mariadbd;
        Port = port;
    }

    /// <summary>The server every test of this process may share (a database each); started on first use.</summary>
    public static Task<MariaDbServer> Shared => SharedServer.Value;

    public int Port { get; }

    public string DataDirectory => _folder.File("data");

    public string SocketPath => _folder.File("mysqld.sock");

    /// <summary>The PID of the running <c>mariadbd</c>.</summary>
    public int ProcessId => (_process ?? throw new InvalidOperationException("mariadbd is not running")).Id;

    /// <summary>Root over the Unix socket, for setting up databases and users.</summary>
    public string AdminConnectionString => new MySqlConnectionStringBuilder
    {
        Server = SocketPath,
        ConnectionProtocol = MySqlConnectionProtocol.UnixSocket,
        UserID = "root",
        Pooling = false,
        ConnectionTimeout = 5,
    }.ConnectionString;

    /// <summary>Initializes a new data folder and starts <c>mariadbd</c> on a free loopback port.</summary>
    public static async Task<MariaDbServer> StartAsync()
    {
        var mariadbd = Find("mariadbd");
        var installDb = Find("mariadb-install-db");
        for (var attempt = 1; ; attempt++)
        {
            var server = new MariaDbServer(TempFolder.Create("chat-mariadb-"), mariadbd, LoopbackPort.Free());
            try
            {
                await server.InstallAsync(installDb);
                await server.StartAgainAsync();
                return server;
            }
            catch (PortTakenException) when (attempt < 3)
            {
                await server.DisposeAsync(); // another process took the free port first: another one
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// A new empty database and a user for it that has <see cref="ChatGrants"/> on it and nothing
    /// else, reached over TCP on 127.0.0.1; returns the chat's connection string for it.
    /// </summary>
    public async Task<MariaDbDatabase> CreateDatabaseAsync()
    {
        var n = Interlocked.Increment(ref _databases);
        var name = $"chat_test_{Environment.ProcessId}_{n}";
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        await using (var connection = new MySqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new MySqlCommand(
                $"""
                CREATE DATABASE `{name}`;
                CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}';
                GRANT {ChatGrants} ON `{name}`.* TO '{name}'@'127.0.0.1';
                """,
                connection);
            await command.ExecuteNonQueryAsync();
        }

        var connectionString = new MySqlConnectionStringBuilder
        {
            Server = "127.0.0.1",
            Port = (uint)Port,
            UserID = name,
            Password = password,
            Database = name,
        }.ConnectionString;
        return new MariaDbDatabase(name, password, connectionString);
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
            if (!process.HasExited)
            {
                Signal(process, SigTerm);
                try
                {
                    await process.WaitForExitAsync().WaitAsync(StopTimeout);
                }
                catch (TimeoutException)
                {
                    Signal(process, SigKill);
                    await process.WaitForExitAsync().Within(StopTimeout, "mariadbd to die after SIGKILL");
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Starts <c>mariadbd</c> (again) on the same port and data folder and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("mariadbd is running");
        }

        var start = new ProcessStartInfo(_mariadbd)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in ServerArguments())
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + _mariadbd);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                _process = null;
                var log = ErrorLog();
                process.Dispose();
                if (log.Contains("Address already in use", StringComparison.Ordinal))
                {
                    throw new PortTakenException();
                }

                throw new InvalidOperationException($"mariadbd exited while starting (code {process.ExitCode}); its error log:\n{log}");
            }

            try
            {
                await using var connection = new MySqlConnection(AdminConnectionString);
                await connection.OpenAsync();
                return;
            }
            catch (MySqlException) when (deadline.Elapsed < StartTimeout)
            {
                // Not listening yet: poll again shortly (the server offers no event to wait on).
                await Task.Delay(50);
            }
            catch (MySqlException ex)
            {
                throw new TimeoutException($"mariadbd did not accept connections within {StartTimeout.TotalSeconds} s; its error log:\n{ErrorLog()}", ex);
            }
        }
    }

    /// <summary>SIGSTOP: the server stops answering but its sockets stay open, as a hung or unreachable database looks to its clients.</summary>
    public void Pause() => Signal(Running(), SigStop);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(Running(), SigCont);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                Signal(process, SigCont); // a paused server cannot act on SIGTERM
            }

            await StopAsync();
        }
        finally
        {
            _folder.Dispose();
        }
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
                var pidFile = Path.Combine(folder, "mariadbd.pid");
                var running = File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && Directory.Exists($"/proc/{pid}");
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

    private async Task InstallAsync(string installDb)
    {
        var start = new ProcessStartInfo(installDb)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])["--no-defaults", $"--datadir={DataDirectory}", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=16M"])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + installDb);
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().Within(StartTimeout, "mariadb-install-db");
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"mariadb-install-db failed (code {process.ExitCode}):\n{await output}\n{await errors}");
        }
    }

    // Small and quick to start: no binary log, a small buffer pool and redo log. Durability stays
    // MariaDB's default (innodb_flush_log_at_trx_commit=1), as the chat is run against it. A stop
    // skips flushing its buffers (innodb_fast_shutdown=2: 20 ms instead of a second; the next start
    // recovers from the redo log, as after a crash): the test host is ended shortly after its last
    // test, and the server must be gone, and its folder deleted, by then.
    private string[] ServerArguments() =>
    [
        "--no-defaults",
        "--user=root",
        $"--datadir={DataDirectory}",
        $"--socket={SocketPath}",
        $"--port={Port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        $"--pid-file={_folder.File("mariadbd.pid")}",
        $"--log-error={_folder.File("error.log")}",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M",
        "--innodb-fast-shutdown=2",
        "--max-connections=500",
    ];

    private string ErrorLog()
    {
        var path = _folder.File("error.log");
        return File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(30)) : "(no error log)";
    }

    private Process Running() => _process ?? throw new InvalidOperationException("mariadbd is not running");

    private static void Signal(Process process, int signal)
    {
        if (SendSignal(process.Id, signal) != 0 && !process.HasExited)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

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
            "The MariaDB store tests need a real mariadbd: install it with `apt-get install -y mariadb-server` (bash .ci/run does).");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private sealed class PortTakenException : Exception;
}

/// <summary>A database made for one test, with its own user.</summary>
public sealed record MariaDbDatabase(string Name, string Password, string ConnectionString);
