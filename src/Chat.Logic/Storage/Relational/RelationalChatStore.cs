// Owns: the store's one implementation over any relational engine: every read, id blocks,
// retention and the shared row readers, written once; batches go to the dialect's writer under one
// lock. What an engine does differently is in its ChatDialect; what a write must keep is in WriteRules.
using System.Data.Common;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;

namespace Chat.Logic.Storage.Relational;

internal abstract partial class RelationalChatStore : IChatStore
{
    private const int AccountColumnCount = 8;

    private readonly ChatDialect _dialect;
    private readonly StoreQueries _queries;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _initializing = new(1, 1);

    // Several writers may share one store (silos of one test cluster): batches commit one at a time.
    private readonly Lock _writing = new();
    private IBatchWriter? _writer;

    protected RelationalChatStore(ChatDialect dialect, ILogger logger)
    {
        _dialect = dialect;
        _queries = new StoreQueries(dialect);
        _logger = logger;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initializing.WaitAsync(cancellationToken);
        try
        {
            if (_writer is not null)
            {
                return;
            }

            var applied = await _dialect.MigrateAsync(cancellationToken);
            await _queries.CheckAsync(_dialect, cancellationToken);
            _writer = _dialect.OpenWriter();
            Log.Opened(_logger, _dialect.Describe(), applied);
        }
        finally
        {
            _initializing.Release();
        }
    }

    public async Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var first = await _dialect.RunAsync(
            async (connection, ct) =>
            {
                await using var transaction = await _dialect.BeginWriteAsync(connection, ct);
                await using var command = _queries.Command(connection, StoreQuery.ReserveIds, transaction);
                Add(command, "@count", count);
                Add(command, "@kind", kind.StoredName());
                Add(command, "@limit", (long)IChatStore.IdLimit);
                var first = 0UL; // ids start at 1: 0 says the block would pass the limit and took nothing
                await using (var reader = await command.ExecuteReaderAsync(ct))
                {
                    if (await reader.ReadAsync(ct) && reader.GetInt64(0) == 1)
                    {
                        first = (ulong)reader.GetInt64(1);
                    }
                }

                if (first != 0)
                {
                    await transaction.CommitAsync(ct);
                }

                return first;
            },
            cancellationToken);
        return first != 0 ? first : throw new StoreRefusedException($"{kind} ids would pass 2^53.");
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
    {
        var writer = _writer ?? throw new InvalidOperationException("The store is not initialized.");
        lock (_writing)
        {
            writer.Write(batch, outcomes);
        }

        return Task.CompletedTask;
    }

    public Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken) => _dialect.RunAsync(
        async (connection, ct) =>
        {
            await using var command = _queries.Command(connection, StoreQuery.FindAccount);
            Add(command, "@id", (long)accountId);
            await using var reader = await command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? ReadAccount(reader) : null;
        },
        cancellationToken);

    public Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken) => _dialect.RunAsync(
        async (connection, ct) =>
        {
            await using var snapshot = await _dialect.BeginSnapshotAsync(connection, ct);
            long createdAt;
            long? endedAt;
            ulong lastMsgId;
            var members = new List<(AccountRecord Account, ulong Delivered, ulong Viewed)>(2);
            await using (var command = _queries.Command(connection, StoreQuery.LoadSession, snapshot))
            {
                Add(command, "@session", (long)sessionId);
                await using var reader = await command.ExecuteReaderAsync(ct);
                if (!await reader.ReadAsync(ct))
                {
                    return null;
                }

                createdAt = reader.GetInt64(0);
                endedAt = reader.IsDBNull(1) ? null : reader.GetInt64(1);
                await reader.NextResultAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    members.Add((ReadAccount(reader), (ulong)reader.GetInt64(AccountColumnCount), (ulong)reader.GetInt64(AccountColumnCount + 1)));
                }

                if (members.Count != 2)
                {
                    throw new InvalidOperationException($"Session {sessionId} has {members.Count} members.");
                }

                await reader.NextResultAsync(ct);
                lastMsgId = await reader.ReadAsync(ct) ? (ulong)reader.GetInt64(0) : 0;
            }

            var sent = new[] { new List<SentRequest>(), new List<SentRequest>() };
            if (lastMsgId > 0)
            {
                await using var command = _queries.Command(connection, StoreQuery.LoadRecentRequests, snapshot);
                Add(command, "@session", (long)sessionId);
                Add(command, "@recent", MemberState.RecentRequestLimit);
                await using var reader = await command.ExecuteReaderAsync(ct);
                for (var i = 0; i < 2; i++)
                {
                    if (i > 0)
                    {
                        await reader.NextResultAsync(ct);
                    }

                    while (await reader.ReadAsync(ct))
                    {
                        sent[i].Add(new SentRequest(reader.GetString(1), (ulong)reader.GetInt64(0)));
                    }

                    sent[i].Reverse(); // oldest first
                }
            }

            var recent = new MemberState[2];
            for (var i = 0; i < 2; i++)
            {
                recent[i] = new MemberState(members[i].Account, members[i].Delivered, sent[i], members[i].Viewed);
            }

            var session = new SessionRecord(sessionId, members[0].Account.Id, members[1].Account.Id, createdAt, endedAt);
            return new SessionState(session, lastMsgId, recent[0], recent[1]);
        },
        cancellationToken);

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken) =>
        ReadIdsAsync(StoreQuery.FindActiveSessions, cancellationToken, ("@account", (long)accountId));

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken) =>
        ReadListAsync(StoreQuery.LoadWaiting, static reader => new WaitingEntry((ulong)reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2)), cancellationToken);

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken) =>
        ReadListAsync(StoreQuery.LoadActivePairs, static reader => new ActivePair((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1)), cancellationToken);

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken) =>
        ReadIdsAsync(StoreQuery.FindAwaySince, cancellationToken, ("@since", awaySinceUnixMs), ("@limit", limit));

    public async Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken) =>
        (await ReadListAsync(StoreQuery.ReadCounts, static reader => new ChatCounts((int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2)), cancellationToken))[0];

    public Task<IReadOnlyList<ulong>> FindOnBrokerAsync(string broker, int limit, CancellationToken cancellationToken) =>
        ReadIdsAsync(StoreQuery.FindOnBroker, cancellationToken, ("@broker", broker), ("@limit", limit));

    public Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken) =>
        ReadListAsync(StoreQuery.FindBrokers, static reader => reader.GetString(0), cancellationToken);

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken) =>
        ReadListAsync(
            StoreQuery.ReadMessagesFor,
            ReadMessage,
            cancellationToken,
            ("@session", (long)sessionId),
            ("@after", (long)afterMsgId),
            ("@receiver", (long)receiverId),
            ("@limit", limit));

    public async Task<ulong?> FindMessageIdAsync(ulong sessionId, ulong senderId, string requestId, CancellationToken cancellationToken)
    {
        var found = await ReadIdsAsync(StoreQuery.FindMessageId, cancellationToken, ("@session", (long)sessionId), ("@sender", (long)senderId), ("@request", requestId));
        return found.Count > 0 ? found[0] : null;
    }

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return _dialect.RunAsync(
            async (connection, ct) =>
            {
                // One short transaction, waiting for the writer's commit at most.
                await using var transaction = await _dialect.BeginWriteAsync(connection, ct);
                var messages = new List<(ulong Id, ulong Session)>();
                await using (var command = _queries.Command(connection, StoreQuery.ExpiredMessages, transaction))
                {
                    Add(command, "@before", beforeUnixMs);
                    Add(command, "@limit", limit);
                    await using var reader = await command.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        messages.Add(((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1)));
                    }
                }

                var deleted = messages.Count;
                if (deleted > 0)
                {
                    await ExecuteAsync(
                        StoreQuery.DeleteMessages,
                        string.Join(", ", messages.Select(m => m.Id)),
                        string.Join(", ", messages.Select(m => m.Session).Distinct()));
                }

                // Fewer than asked: no expired session has a message left, so the sessions go, then the accounts in none.
                if (deleted < limit)
                {
                    var sessions = await IdsAsync(StoreQuery.ExpiredSessions, limit - deleted);
                    if (sessions.Count > 0)
                    {
                        await ExecuteAsync(StoreQuery.DeleteSessions, string.Join(", ", sessions));
                        deleted += sessions.Count;
                    }
                }

                if (deleted < limit)
                {
                    var accounts = await IdsAsync(StoreQuery.GoneAccounts, limit - deleted);
                    if (accounts.Count > 0)
                    {
                        await ExecuteAsync(StoreQuery.DeleteAccounts, string.Join(", ", accounts));
                        deleted += accounts.Count;
                    }
                }

                await transaction.CommitAsync(ct);
                return deleted;

                async Task<IReadOnlyList<ulong>> IdsAsync(StoreQuery query, int most)
                {
                    await using var command = _queries.Command(connection, query, transaction);
                    Add(command, "@before", beforeUnixMs);
                    Add(command, "@limit", most);
                    return await ReadIdsAsync(command, ct);
                }

                async Task ExecuteAsync(StoreQuery query, string ids, string? sessions = null)
                {
                    await using var command = _queries.Command(connection, query, transaction);
                    command.CommandText = command.CommandText.Replace(StoreQueries.Ids, ids, StringComparison.Ordinal).Replace(StoreQueries.Sessions, sessions, StringComparison.Ordinal);
                    await command.ExecuteNonQueryAsync(ct);
                }
            },
            cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        lock (_writing)
        {
            _writer?.Dispose();
            _writer = null;
        }

        await _dialect.DisposeAsync();
        _initializing.Dispose();
    }

    private Task<IReadOnlyList<ulong>> ReadIdsAsync(StoreQuery query, CancellationToken cancellationToken, params (string Name, object Value)[] parameters) =>
        ReadListAsync(query, static reader => (ulong)reader.GetInt64(0), cancellationToken, parameters);

    /// <summary>Runs a query and reads one value per row of its (last) result set.</summary>
    private Task<IReadOnlyList<T>> ReadListAsync<T>(StoreQuery query, Func<DbDataReader, T> read, CancellationToken cancellationToken, params (string Name, object Value)[] parameters) => _dialect.RunAsync<IReadOnlyList<T>>(
        async (connection, ct) =>
        {
            await using var command = _queries.Command(connection, query);
            foreach (var (name, value) in parameters)
            {
                Add(command, name, value);
            }

            var found = new List<T>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                found.Add(read(reader));
            }

            return found;
        },
        cancellationToken);

    private static async Task<IReadOnlyList<ulong>> ReadIdsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var ids = new List<ulong>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add((ulong)reader.GetInt64(0));
        }

        return ids;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>An account from <see cref="StoreQueries.AccountColumns"/>.</summary>
    private static AccountRecord ReadAccount(DbDataReader reader) => new(
        (ulong)reader.GetInt64(0),
        reader.GetString(1),
        (byte[])reader.GetValue(2),
        reader.GetInt64(3),
        reader.IsDBNull(4) ? null : new ClientEndpoint(reader.GetString(4), (ulong)reader.GetInt64(5), reader.IsDBNull(7) ? 0 : reader.GetInt64(7)),
        reader.IsDBNull(6) ? null : reader.GetInt64(6));

    /// <summary>A message from its id and <see cref="StoreQueries.MessageColumns"/>.</summary>
    private static MessageRecord ReadMessage(DbDataReader reader) => new(
        (ulong)reader.GetInt64(0),
        (ulong)reader.GetInt64(1),
        (ulong)reader.GetInt64(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetInt64(5));

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Store {Store} ready ({Applied} migrations applied now).")]
        public static partial void Opened(ILogger logger, string store, int applied);
    }
}
