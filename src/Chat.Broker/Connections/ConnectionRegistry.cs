using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Connections;

/// <summary>Every open socket of this broker, by connection id.</summary>
internal sealed class ConnectionRegistry(IOptions<BrokerOptions> options, TimeProvider time)
{
    /// <summary>Connections are kept in this many groups by id, so the heartbeat can sweep one group at a time.</summary>
    public const int Slices = 50;

    private readonly ConcurrentDictionary<ulong, ClientConnection>[] _bySlice = [.. Enumerable.Range(0, Slices).Select(_ => new ConcurrentDictionary<ulong, ClientConnection>())];
    private long _lastId;
    private int _count;

    /// <summary>
    /// This start of the broker, different each time (a random 30-bit number). Connection ids carry
    /// it in their high bits, so a push logic meant for a socket that died with an earlier start
    /// at the same address finds nothing here instead of somebody else's socket.
    /// </summary>
    public long Incarnation { get; } = Random.Shared.NextInt64(1, 1L << 30);

    public int Count => Volatile.Read(ref _count);

    /// <summary>The open sockets, read live (no copy).</summary>
    public IEnumerable<ClientConnection> All => Enumerable.Range(0, Slices).SelectMany(InSlice);

    /// <summary>The open sockets of one group (connection id modulo <see cref="Slices"/>), read live.</summary>
    public IEnumerable<ClientConnection> InSlice(int slice)
    {
        foreach (var (_, connection) in _bySlice[slice])
        {
            yield return connection;
        }
    }

    public ClientConnection Register(WebSocket socket)
    {
        var connection = new ClientConnection((ulong)((Incarnation << 32) + Interlocked.Increment(ref _lastId)), options.Value.Address, socket, options.Value, time);
        SliceOf(connection.Id)[connection.Id] = connection;
        Interlocked.Increment(ref _count);
        return connection;
    }

    /// <summary>Marks the socket as the account's, after CRT_ACCOUNT_REQ or RECONNECT_REQ succeeded.</summary>
    public void Bind(ClientConnection connection, ulong accountId) => connection.AccountId = accountId;

    public void Remove(ClientConnection connection)
    {
        if (SliceOf(connection.Id).TryRemove(connection.Id, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    public bool TryGet(ulong connectionId, out ClientConnection connection) => SliceOf(connectionId).TryGetValue(connectionId, out connection!);

    private ConcurrentDictionary<ulong, ClientConnection> SliceOf(ulong connectionId) => _bySlice[(int)(connectionId % Slices)];
}
