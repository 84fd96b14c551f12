using System.Collections.Concurrent;
using System.Net.WebSockets;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Connections;

/// <summary>Every open socket of this broker, by connection id and by bound account.</summary>
internal sealed class ConnectionRegistry(IOptions<BrokerOptions> options, TimeProvider time)
{
    /// <summary>Connections are kept in this many groups by id, so the heartbeat can sweep one group at a time.</summary>
    public const int Slices = 50;

    private readonly ConcurrentDictionary<ulong, ClientConnection>[] _bySlice = [.. Enumerable.Range(0, Slices).Select(_ => new ConcurrentDictionary<ulong, ClientConnection>())];
    private readonly ConcurrentDictionary<ulong, ClientConnection> _byAccount = new();
    private long _lastId;
    private int _count;

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
        var connection = new ClientConnection((ulong)Interlocked.Increment(ref _lastId), options.Value.Address, socket, options.Value, time);
        SliceOf(connection.Id)[connection.Id] = connection;
        Interlocked.Increment(ref _count);
        return connection;
    }

    public void Bind(ClientConnection connection, ulong accountId)
    {
        connection.AccountId = accountId;
        _byAccount[accountId] = connection;
    }

    public void Remove(ClientConnection connection)
    {
        if (SliceOf(connection.Id).TryRemove(connection.Id, out _))
        {
            Interlocked.Decrement(ref _count);
        }

        if (connection.AccountId != 0)
        {
            // Only if it is still this socket: a RECONNECT may have bound the account elsewhere.
            _byAccount.TryRemove(new KeyValuePair<ulong, ClientConnection>(connection.AccountId, connection));
        }
    }

    public bool TryGet(ulong connectionId, out ClientConnection connection) => SliceOf(connectionId).TryGetValue(connectionId, out connection!);

    public bool TryGetByAccount(ulong accountId, out ClientConnection connection) => _byAccount.TryGetValue(accountId, out connection!);

    /// <summary>Drops the account's socket without a close frame, as a network failure would.</summary>
    public bool AbortAccount(ulong accountId)
    {
        if (!_byAccount.TryGetValue(accountId, out var connection))
        {
            return false;
        }

        connection.Abort(LeaveKind.Lost);
        return true;
    }

    private ConcurrentDictionary<ulong, ClientConnection> SliceOf(ulong connectionId) => _bySlice[(int)(connectionId % Slices)];
}
