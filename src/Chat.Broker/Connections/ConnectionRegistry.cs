using System.Collections.Concurrent;
using System.Net.WebSockets;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Connections;

/// <summary>Every open socket of this broker, by connection id and by bound account.</summary>
public sealed class ConnectionRegistry(IOptions<BrokerOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<ulong, ClientConnection> _byId = new();
    private readonly ConcurrentDictionary<ulong, ClientConnection> _byAccount = new();
    private long _lastId;

    public int Count => _byId.Count;

    /// <summary>The open sockets, read live (no copy: a heartbeat sweep runs many times a second over all of them).</summary>
    public IEnumerable<ClientConnection> All
    {
        get
        {
            foreach (var (_, connection) in _byId)
            {
                yield return connection;
            }
        }
    }

    public ClientConnection Register(WebSocket socket)
    {
        var connection = new ClientConnection((ulong)Interlocked.Increment(ref _lastId), options.Value.Address, socket, options.Value, time);
        _byId[connection.Id] = connection;
        return connection;
    }

    public void Bind(ClientConnection connection, ulong accountId)
    {
        connection.AccountId = accountId;
        _byAccount[accountId] = connection;
    }

    public void Remove(ClientConnection connection)
    {
        _byId.TryRemove(connection.Id, out _);
        if (connection.AccountId != 0)
        {
            // Only if it is still this socket: a RECONNECT may have bound the account elsewhere.
            _byAccount.TryRemove(new KeyValuePair<ulong, ClientConnection>(connection.AccountId, connection));
        }
    }

    public bool TryGet(ulong connectionId, out ClientConnection connection) => _byId.TryGetValue(connectionId, out connection!);

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
}
