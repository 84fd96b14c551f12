using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Chat.Host.Hosting;

/// <summary>
/// How many connections Kestrel holds at once (<c>Chat:Http</c>), so a crowd (or one client opening
/// sockets in a loop) meets a refusal instead of a process out of file descriptors. Kestrel counts
/// a connection as a plain one until it becomes a WebSocket, and then as a WebSocket only.
/// </summary>
public sealed class ConnectionLimitsOptions
{
    public const string Section = "Chat:Http";

    /// <summary>Plain HTTP connections (pages, health, metrics, gRPC between nodes) open at once; unset: the descriptor budget.</summary>
    [Range(1, long.MaxValue)]
    public long? MaxConnections { get; set; }

    /// <summary>WebSockets open at once; unset: the descriptor budget.</summary>
    [Range(1, long.MaxValue)]
    public long? MaxWebSockets { get; set; }
}

public static class ConnectionLimits
{
    /// <summary>Descriptors left for what the server opens besides its clients' sockets: the store, logs, connections to other nodes.</summary>
    public const int ReservedDescriptors = 512;

    /// <summary>Kestrel's connection limits from <see cref="ConnectionLimitsOptions"/>, by default the process's descriptor limit less <see cref="ReservedDescriptors"/>.</summary>
    public static IServiceCollection AddConnectionLimits(this IServiceCollection services)
    {
        services.AddOptions<ConnectionLimitsOptions>().BindConfiguration(ConnectionLimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ConnectionLimitsOptions>>((kestrel, options) =>
        {
            kestrel.Limits.MaxConcurrentConnections = options.Value.MaxConnections ?? DescriptorBudget(OpenFileLimit());
            kestrel.Limits.MaxConcurrentUpgradedConnections = MaxWebSockets(options.Value);
        });
        return services;
    }

    /// <summary>WebSockets open at once: Kestrel's upgraded connections and the broker's own handshakes alike.</summary>
    public static long? MaxWebSockets(ConnectionLimitsOptions options) => options.MaxWebSockets ?? DescriptorBudget(OpenFileLimit());

    /// <summary>The descriptor limit less the reserve (at least half the limit, for a small one); null (no limit) where it is unknown.</summary>
    public static long? DescriptorBudget(long? openFileLimit) =>
        openFileLimit is { } limit ? Math.Max(limit - ReservedDescriptors, limit / 2) : null;

    /// <summary>The process's open-file limit (its soft limit, which .NET raises to the hard one at start), from <c>/proc/self/limits</c>; null where there is none to read.</summary>
    public static long? OpenFileLimit(string limitsFile = "/proc/self/limits")
    {
        try
        {
            // "Max open files            20000                20000                files"
            foreach (var line in File.ReadLines(limitsFile))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                    return long.TryParse(soft, out var limit) && limit > 0 ? limit : null; // "unlimited": no limit of ours either
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}
