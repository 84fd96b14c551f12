using Chat.Protocol.Seams;

namespace Chat.Logic.Storage.Memory;

/// <summary>
/// A store that keeps everything in process memory: nothing survives a restart. For tests, for
/// measuring what durability costs, and for deployments that keep no history. It keeps the same
/// contract as the durable stores: batches all-or-nothing, duplicate ids and out-of-order msgIds refused.
/// </summary>
internal sealed class MemoryChatStore : IChatStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, AccountRecord> _accounts = [];
    private readonly Dictionary<ulong, SessionRecord> _sessions = [];
    private readonly Dictionary<ulong, List<MessageRecord>> _messagesBySession = [];
    private readonly HashSet<ulong> _messageIds = [];
    private readonly Dictionary<(ulong Session, ulong Sender, string RequestId), ulong> _requests = [];
    private readonly Dictionary<ulong, long> _leftAt = [];
    private readonly Dictionary<(ulong Session, ulong Account), ulong> _delivered = [];
    private readonly Dictionary<(ulong Session, ulong Account), ulong> _viewed = [];
    private readonly Dictionary<ulong, long> _waiting = [];
    private readonly ulong[] _nextIds = [1, 1, 1];

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<ulong> ReserveIdsAsync(IdKind kind, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        lock (_lock)
        {
            ref var next = ref _nextIds[(int)kind];
            if (next + (ulong)count > IChatStore.IdLimit)
            {
                throw new StoreRefusedException($"{kind} ids would pass 2^53.");
            }

            var first = next;
            next += (ulong)count;
            return Task.FromResult(first);
        }
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // Each write records how to take itself back, so a batch that fails part-way leaves nothing.
            var undo = new List<Action>(batch.Count);
            try
            {
                foreach (var write in batch)
                {
                    Apply(write, undo);
                }
            }
            catch
            {
                for (var i = undo.Count - 1; i >= 0; i--)
                {
                    undo[i]();
                }

                throw;
            }
        }

        return Task.CompletedTask;
    }

    public Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_accounts.GetValueOrDefault(accountId));
        }
    }

    public Task<SessionRecord?> FindSessionAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_sessions.GetValueOrDefault(sessionId));
        }
    }

    public Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(sessionId, out var session))
            {
                return Task.FromResult<SessionState?>(null);
            }

            var messages = _messagesBySession.GetValueOrDefault(sessionId) ?? [];
            MemberState Member(ulong accountId) => new(
                _accounts[accountId],
                _delivered.GetValueOrDefault((sessionId, accountId)),
                [.. messages.Where(m => m.SenderId == accountId).TakeLast(MemberState.RecentRequestLimit).Select(m => new SentRequest(m.RequestId, m.Id))]);

            return Task.FromResult<SessionState?>(new SessionState(
                session,
                messages.Count == 0 ? 0 : messages[^1].Id,
                Member(session.FirstAccountId),
                Member(session.SecondAccountId)));
        }
    }

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<ulong> found = [.. _sessions.Values.Where(s => s.EndedAtUnixMs is null && s.Has(accountId)).Select(s => s.Id).Order()];
            return Task.FromResult(found);
        }
    }

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<WaitingEntry> found = [.. _waiting.Select(w => new WaitingEntry(w.Key, w.Value)).OrderBy(w => w.SinceUnixMs).ThenBy(w => w.AccountId)];
            return Task.FromResult(found);
        }
    }

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<ActivePair> found = [.. _sessions.Values.Where(s => s.EndedAtUnixMs is null).Select(s => new ActivePair(s.FirstAccountId, s.SecondAccountId))];
            return Task.FromResult(found);
        }
    }

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<ulong> found = [.. _accounts.Values
                .Where(a => a.AwaySinceUnixMs <= awaySinceUnixMs)
                .OrderBy(a => a.AwaySinceUnixMs).ThenBy(a => a.Id)
                .Take(limit).Select(a => a.Id)];
            return Task.FromResult(found);
        }
    }

    public Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(new ChatCounts(
                _accounts.Values.Count(a => a.Endpoint is not null),
                _waiting.Count,
                _sessions.Values.Count(s => s.EndedAtUnixMs is null)));
        }
    }

    public Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<string> found = [.. _accounts.Values.Where(a => a.Endpoint is not null).Select(a => a.Endpoint!.Value.Broker).Distinct().Order(StringComparer.Ordinal)];
            return Task.FromResult(found);
        }
    }

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<MessageRecord> found = _messagesBySession.TryGetValue(sessionId, out var messages)
                ? [.. messages.Where(m => m.Id > afterMsgId && m.SenderId != receiverId).Take(limit)]
                : [];
            return Task.FromResult(found);
        }
    }

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var deleted = 0;
            var expired = _sessions.Values.Where(s => s.EndedAtUnixMs < beforeUnixMs).Select(s => s.Id).Order().ToList();
            foreach (var sessionId in expired)
            {
                if (deleted >= limit)
                {
                    return Task.FromResult(deleted);
                }

                if (_messagesBySession.TryGetValue(sessionId, out var messages))
                {
                    var take = Math.Min(limit - deleted, messages.Count);
                    foreach (var m in messages.Take(take))
                    {
                        _messageIds.Remove(m.Id);
                        _requests.Remove((m.SessionId, m.SenderId, m.RequestId));
                    }

                    messages.RemoveRange(0, take);
                    deleted += take;
                    if (messages.Count > 0)
                    {
                        return Task.FromResult(deleted);
                    }

                    _messagesBySession.Remove(sessionId);
                    if (deleted >= limit)
                    {
                        return Task.FromResult(deleted);
                    }
                }

                var session = _sessions[sessionId];
                _sessions.Remove(sessionId);
                foreach (var member in (ReadOnlySpan<ulong>)[session.FirstAccountId, session.SecondAccountId])
                {
                    _delivered.Remove((sessionId, member));
                    _viewed.Remove((sessionId, member));
                }

                deleted++;
            }

            var gone = _accounts.Values
                .Where(a => a.Endpoint is null && a.AwaySinceUnixMs is null && _leftAt.GetValueOrDefault(a.Id, long.MaxValue) < beforeUnixMs
                    && !_waiting.ContainsKey(a.Id) && !_sessions.Values.Any(s => s.Has(a.Id)))
                .Select(a => a.Id).Order().Take(Math.Max(0, limit - deleted)).ToList();
            foreach (var accountId in gone)
            {
                _accounts.Remove(accountId);
                _leftAt.Remove(accountId);
                deleted++;
            }

            return Task.FromResult(deleted);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The account's read-up-to mark in the session (0 when none), for the store contract tests: no reader needs it yet.</summary>
    internal ulong ViewedUpTo(ulong sessionId, ulong accountId)
    {
        lock (_lock)
        {
            return _viewed.GetValueOrDefault((sessionId, accountId));
        }
    }

    private void Apply(StoreWrite write, List<Action> undo)
    {
        switch (write)
        {
            case StoreWrite.NewAccount { Account: var a }:
                CheckId(a.Id);
                if (!_accounts.TryAdd(a.Id, a))
                {
                    throw new StoreRefusedException($"Account {a.Id} exists.");
                }

                undo.Add(() => _accounts.Remove(a.Id));
                SetLeftAt(a.Id, a.Endpoint is null ? a.CreatedAtUnixMs : null, undo);
                break;
            case StoreWrite.AccountBound b:
                ReplaceAccount(b.AccountId, a => a with { Endpoint = b.Endpoint, AwaySinceUnixMs = null }, undo);
                SetLeftAt(b.AccountId, null, undo);
                break;
            case StoreWrite.AccountUnbound u:
                ReplaceAccount(u.AccountId, a => a with { Endpoint = null, AwaySinceUnixMs = u.AwaySinceUnixMs }, undo);
                if (_accounts.ContainsKey(u.AccountId))
                {
                    SetLeftAt(u.AccountId, u.AtUnixMs, undo);
                }

                break;
            case StoreWrite.BrokerGone g:
                foreach (var account in _accounts.Values.Where(a => a.Endpoint is { } e && e.Broker == g.Broker && (g.KeepIncarnation == 0 || (long)(e.ConnectionId >> 32) != g.KeepIncarnation)).ToList())
                {
                    RemoveWaiting(account.Id, undo);
                    var inSession = _sessions.Values.Any(s => s.EndedAtUnixMs is null && s.Has(account.Id));
                    ReplaceAccount(account.Id, a => a with { Endpoint = null, AwaySinceUnixMs = a.AwaySinceUnixMs ?? (inSession ? g.AtUnixMs : null) }, undo);
                    SetLeftAt(account.Id, g.AtUnixMs, undo);
                }

                break;
            case StoreWrite.NewSession { Session: var given }:
                // Kept smaller id first, as every store reads it back (the matchmaker names the waiting partner first).
                var session = given.FirstAccountId < given.SecondAccountId ? given : given with { FirstAccountId = given.SecondAccountId, SecondAccountId = given.FirstAccountId };
                CheckId(session.Id);
                if (!_accounts.ContainsKey(session.FirstAccountId) || !_accounts.ContainsKey(session.SecondAccountId) || session.FirstAccountId == session.SecondAccountId)
                {
                    throw new StoreRefusedException($"Session {session.Id} needs two existing accounts.");
                }

                if (!_sessions.TryAdd(session.Id, session))
                {
                    throw new StoreRefusedException($"Session {session.Id} exists.");
                }

                undo.Add(() => _sessions.Remove(session.Id));
                break;
            case StoreWrite.SessionEnded e when _sessions.TryGetValue(e.SessionId, out var s) && s.EndedAtUnixMs is null:
                _sessions[e.SessionId] = s with { EndedAtUnixMs = e.EndedAtUnixMs };
                undo.Add(() => _sessions[e.SessionId] = s);
                break;
            case StoreWrite.SessionEnded:
                break;
            case StoreWrite.NewMessage { Message: var m }:
                CheckId(m.Id);
                if (!_sessions.ContainsKey(m.SessionId))
                {
                    throw new StoreRefusedException($"Message {m.Id}: no session {m.SessionId}.");
                }

                if (!_messagesBySession.TryGetValue(m.SessionId, out var list))
                {
                    _messagesBySession[m.SessionId] = list = [];
                }

                if (list.Count > 0 && m.Id <= list[^1].Id)
                {
                    throw new StoreRefusedException($"Message {m.Id} is not above the last of session {m.SessionId} ({list[^1].Id}).");
                }

                if (_requests.TryGetValue((m.SessionId, m.SenderId, m.RequestId), out var first))
                {
                    throw new AlreadyStoredException(first);
                }

                if (!_messageIds.Add(m.Id))
                {
                    throw new StoreRefusedException($"Message {m.Id} exists.");
                }

                list.Add(m);
                _requests.Add((m.SessionId, m.SenderId, m.RequestId), m.Id);
                undo.Add(() =>
                {
                    list.RemoveAt(list.Count - 1);
                    _messageIds.Remove(m.Id);
                    _requests.Remove((m.SessionId, m.SenderId, m.RequestId));
                });
                break;
            case StoreWrite.ViewedUpTo v:
                RaiseMark(_viewed, (v.SessionId, v.AccountId), v.MsgId, undo);
                break;
            case StoreWrite.DeliveredUpTo d:
                RaiseMark(_delivered, (d.SessionId, d.AccountId), d.MsgId, undo);
                break;
            case StoreWrite.WaitingAdded w:
                if (_waiting.TryAdd(w.AccountId, w.SinceUnixMs))
                {
                    undo.Add(() => _waiting.Remove(w.AccountId));
                }

                break;
            case StoreWrite.WaitingRemoved w:
                RemoveWaiting(w.AccountId, undo);
                break;
            default:
                throw new NotSupportedException($"Unknown store write {write.GetType().Name}.");
        }
    }

    private static void CheckId(ulong id)
    {
        if (id is 0 or >= IChatStore.IdLimit)
        {
            throw new StoreRefusedException($"Id {id} is out of range.");
        }
    }

    private void ReplaceAccount(ulong accountId, Func<AccountRecord, AccountRecord> change, List<Action> undo)
    {
        if (_accounts.TryGetValue(accountId, out var before))
        {
            _accounts[accountId] = change(before);
            undo.Add(() => _accounts[accountId] = before);
        }
    }

    /// <summary>Since when the account has had no socket (null while it has one), for retention.</summary>
    private void SetLeftAt(ulong accountId, long? at, List<Action> undo)
    {
        var had = _leftAt.TryGetValue(accountId, out var before);
        if (at is { } value)
        {
            _leftAt[accountId] = value;
        }
        else
        {
            _leftAt.Remove(accountId);
        }

        undo.Add(had ? () => _leftAt[accountId] = before : () => _leftAt.Remove(accountId));
    }

    private void RemoveWaiting(ulong accountId, List<Action> undo)
    {
        if (_waiting.Remove(accountId, out var since))
        {
            undo.Add(() => _waiting[accountId] = since);
        }
    }

    private static void RaiseMark(Dictionary<(ulong, ulong), ulong> marks, (ulong, ulong) key, ulong msgId, List<Action> undo)
    {
        var had = marks.TryGetValue(key, out var before);
        if (msgId > before)
        {
            marks[key] = msgId;
            undo.Add(had ? () => marks[key] = before : () => marks.Remove(key));
        }
    }
}
