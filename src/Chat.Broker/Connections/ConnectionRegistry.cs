using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Connections;

/// <summary>Every open socket of this broker, by connection id.</summary>
internal sealed class ConnectionRegistry(IOptions<BrokerOptions> options, TimeProvider time)
{
    /// <summary>Connections are kept in this many groups by id, so the heartbeat can sweep one group at a time.</summary>
    public const int Slices = 50;

    private readonly ConcurrentDictionary<ulong, ClientConnection>[] _bySlice = [.. Enumerable.Range(0, Slices).Select(_ => new ConcurrentDictionary<ulong, ClientConnection>())];
    private int _count;

    /// <summary>
    /// This start of the broker, different each time (random): logic records it with each binding, so
    /// a restarted broker releases the accounts of its earlier starts and keeps its own. Only logic
    /// nodes are told it; connection ids say nothing of it.
    /// </summary>
    public long Incarnation { get; } = RandomId();

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

    /// <summary>
    /// A new socket under a random id (63 random bits, never 0, unique among this broker's open sockets):
    /// a push that names a socket must know its id, and no id can be guessed from another.
    /// </summary>
    public ClientConnection Register(WebSocket socket)
    {
        while (true)
        {
            var id = (ulong)RandomId();
            if (SliceOf(id).ContainsKey(id))
            {
                continue;
            }

            var connection = new ClientConnection(id, options.Value.Address, socket, options.Value, time);
            if (SliceOf(id).TryAdd(id, connection))
            {
                Interlocked.Increment(ref _count);
                return connection;
            }

            connection.Dispose(); // another socket took the same id a moment ago
        }
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

    /// <summary>A random positive 63-bit number from the system's secure generator (the stores keep ids as signed 64-bit numbers).</summary>
    private static long RandomId()
    {
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        long id;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            id = BinaryPrimitives.ReadInt64LittleEndian(bytes) & long.MaxValue;
        }
        while (id == 0);
        return id;
    }
}
