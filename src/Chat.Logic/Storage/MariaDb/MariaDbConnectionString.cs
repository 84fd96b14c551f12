using MySqlConnector;

namespace Chat.Logic.Storage.MariaDb;

/// <summary>
/// The connection string the MariaDB store uses: the configured one, with short timeouts where it
/// sets none, so a dead or unreachable database fails a send within about two seconds instead of
/// the driver's fifteen or thirty. Never logged whole: <see cref="Describe"/> leaves the password out.
/// </summary>
internal static class MariaDbConnectionString
{
    /// <summary>Seconds to connect, and to run a command, unless the connection string says otherwise.</summary>
    public const uint ConnectTimeoutSeconds = 2;

    public const int CommandTimeoutSeconds = 2;

    /// <summary>Migrations may take longer than a chat write: their own command timeout.</summary>
    public const int MigrationTimeoutSeconds = 120;

    /// <summary>
    /// Seconds the start's first connection (the migrations') may take. A node's start asks once, and
    /// on a machine whose cores are busy (several nodes starting at once) a connect took over the
    /// two seconds sends get: the node then stopped with "Connect Timeout expired".
    /// </summary>
    public const uint StartConnectTimeoutSeconds = 30;

    /// <summary>The configured connection string with the store's defaults; throws <see cref="ArgumentException"/> (naming no value) if it cannot be read.</summary>
    /// <remarks>The pool holds at least <paramref name="connections"/> (the store's turns), so a turn never waits in the driver's pool.</remarks>
    public static string WithDefaults(string configured, int connections = 1)
    {
        MySqlConnectionStringBuilder builder;
        try
        {
            builder = new MySqlConnectionStringBuilder(configured);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
        {
            // The driver's message may quote the string, password included.
            throw new ArgumentException("Chat:Store:ConnectionString is not a valid MySqlConnector connection string.");
        }

        if (!Has(configured, "Connection Timeout", "ConnectionTimeout", "Connect Timeout"))
        {
            builder.ConnectionTimeout = ConnectTimeoutSeconds;
        }

        if (!Has(configured, "Default Command Timeout", "DefaultCommandTimeout", "Command Timeout"))
        {
            builder.DefaultCommandTimeout = CommandTimeoutSeconds;
        }

        // When a command times out, close its socket at once instead of first asking the server
        // (on a new connection) to kill the query: a server that does not answer would not answer that either.
        if (!Has(configured, "Cancellation Timeout", "CancellationTimeout"))
        {
            builder.CancellationTimeout = -1;
        }

        if (builder.MaximumPoolSize < connections)
        {
            builder.MaximumPoolSize = (uint)connections;
        }

        return builder.ConnectionString;
    }

    /// <summary>Where the store connects, for logs: server, port, database and user, never the password.</summary>
    public static string Describe(string connectionString)
    {
        var builder = new MySqlConnectionStringBuilder(connectionString);
        return $"{builder.UserID}@{builder.Server}:{builder.Port}/{builder.Database}";
    }

    /// <summary>Whether the configured string sets the option under any of its names (case and spaces ignored).</summary>
    private static bool Has(string configured, params string[] names)
    {
        var keys = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = configured }.Keys.Cast<string>().Select(Normal).ToHashSet();
        return names.Any(name => keys.Contains(Normal(name)));

        static string Normal(string key) => key.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant();
    }
}
