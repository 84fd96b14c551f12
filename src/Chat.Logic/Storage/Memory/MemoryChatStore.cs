// Owns: the memory store (Kind=memory): the chat's state in process memory, nothing survives the
// process. It keeps the one contract with the shared parts: each write is judged by WriteRules on
// facts read from these maps and applied through the same write kinds (IStoreWriteTarget); reads
// are direct lookups. SQLite in memory behind the relational store was measured and was slower
// (match-storm: twice the server CPU, docs/storage.md).
using Chat.Protocol.Seams;

namespace Chat.Logic.Storage.Memory;

/// <summary>
/// A store that keeps everything in process memory. For tests, for measuring what durability costs,
/// and for deployments that keep no history. One lock: a batch is applied whole before any read
/// sees it; a refused write is refused before it changes anything, so no write needs undoing.
/// </summary>
internal sealed partial class MemoryChatStore : IChatStore, IStoreWriteTarget, IStoreFacts
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Account> _accounts = [];
    private readonly Dictionary<ulong, Session> _sessions = [];
    private readonly HashSet<ulong> _messageIds = [];
    private readonly Dictionary<ulong, (long Since, string? Profile)> _waiting = [];
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

            (var first, next) = (next, next + (ulong)count);
            return Task.FromResult(first);
        }
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] = batch[i].ApplyTo(this);
            }
        }

        return Task.CompletedTask;
    }

    public Task<AccountRecord?> FindAccountAsync(ulong accountId, CancellationToken cancellationToken) =>
        Read(() => _accounts.GetValueOrDefault(accountId)?.Record);

    public Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken) => Read(() =>
    {
        if (!_sessions.TryGetValue(sessionId, out var s))
        {
            return null;
        }

        var messages = s.Messages;
        MemberState Member(int member)
        {
            var id = member == 0 ? s.Record.FirstAccountId : s.Record.SecondAccountId;
            var recent = new List<SentRequest>();
            for (var i = messages.Count - 1; i >= 0 && recent.Count < MemberState.RecentRequestLimit; i--)
            {
                if (messages[i].SenderId == id)
                {
                    recent.Add(new SentRequest(messages[i].RequestId, messages[i].Id));
                }
            }

            recent.Reverse();
            return new MemberState(_accounts[id].Record, s.Delivered[member], recent, s.Viewed[member]);
        }

        return new SessionState(s.Record, messages.Count == 0 ? 0 : messages[^1].Id, Member(0), Member(1));
    });

    public Task<IReadOnlyList<ulong>> FindActiveSessionsAsync(ulong accountId, CancellationToken cancellationToken) => Read<IReadOnlyList<ulong>>(() =>
        _accounts.TryGetValue(accountId, out var a) ? [.. a.Sessions.Where(id => _sessions[id].Record.EndedAtUnixMs is null)] : []);

    public Task<IReadOnlyList<WaitingEntry>> LoadWaitingAsync(CancellationToken cancellationToken) => Read<IReadOnlyList<WaitingEntry>>(() =>
        [.. _waiting.Select(w => new WaitingEntry(w.Key, w.Value.Since, w.Value.Profile)).OrderBy(w => w.SinceUnixMs).ThenBy(w => w.AccountId)]);

    public Task<IReadOnlyList<ActivePair>> LoadActivePairsAsync(CancellationToken cancellationToken) => Read<IReadOnlyList<ActivePair>>(() =>
        [.. _sessions.Values.Where(s => s.Record.EndedAtUnixMs is null).Select(s => new ActivePair(s.Record.FirstAccountId, s.Record.SecondAccountId))]);

    public Task<IReadOnlyList<ulong>> FindAwaySinceAsync(long awaySinceUnixMs, int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<ulong>>(() =>
        [.. _accounts.Values.Select(a => a.Record).Where(a => a.AwaySinceUnixMs <= awaySinceUnixMs).OrderBy(a => a.AwaySinceUnixMs).ThenBy(a => a.Id).Take(limit).Select(a => a.Id)]);

    public Task<ChatCounts> ReadCountsAsync(CancellationToken cancellationToken) => Read(() => new ChatCounts(
        _accounts.Values.Count(a => a.Record.Endpoint is not null),
        _waiting.Count,
        _sessions.Values.Count(s => s.Record.EndedAtUnixMs is null)));

    public Task<IReadOnlyList<ulong>> FindOnBrokerAsync(string broker, int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<ulong>>(() =>
        [.. _accounts.Values.Where(a => a.Record.Endpoint?.Broker == broker).Select(a => a.Record.Id).Order().Take(limit)]);

    public Task<IReadOnlyList<string>> FindBrokersAsync(CancellationToken cancellationToken) => Read<IReadOnlyList<string>>(() =>
        [.. _accounts.Values.Select(a => a.Record.Endpoint?.Broker).OfType<string>().Distinct().Order(StringComparer.Ordinal)]);

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken) => Read<IReadOnlyList<MessageRecord>>(() =>
    {
        if (!_sessions.TryGetValue(sessionId, out var s))
        {
            return [];
        }

        // Messages are kept in msgId order: find the first above afterMsgId by halves.
        var (low, high) = (0, s.Messages.Count);
        while (low < high)
        {
            var middle = (low + high) / 2;
            (low, high) = s.Messages[middle].Id > afterMsgId ? (low, middle) : (middle + 1, high);
        }

        return [.. s.Messages.Skip(low).Where(m => m.SenderId != receiverId).Take(limit)];
    });

    public Task<ulong?> FindMessageIdAsync(ulong sessionId, ulong senderId, string requestId, CancellationToken cancellationToken) => Read<ulong?>(() =>
        _sessions.TryGetValue(sessionId, out var s) && s.Messages.FindLast(m => m.SenderId == senderId && m.RequestId == requestId) is { } message
            ? message.Id
            : null);

    public Task<int> DeleteExpiredAsync(long beforeUnixMs, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        lock (_lock)
        {
            var expired = _sessions.Values.Where(s => s.Record.EndedAtUnixMs < beforeUnixMs).OrderBy(s => s.Record.EndedAtUnixMs).ThenBy(s => s.Record.Id).ToList();
            var deleted = 0;
            foreach (var s in expired)
            {
                var take = Math.Min(limit - deleted, s.Messages.Count);
                foreach (var m in s.Messages.Take(take))
                {
                    _messageIds.Remove(m.Id);
                    s.Requests.Remove((m.SenderId, m.RequestId));
                }

                s.Messages.RemoveRange(0, take);
                deleted += take;
            }

            // Fewer than asked: no expired session has a message left, so the sessions go, then the accounts in none.
            foreach (var s in expired.Take(Math.Max(0, limit - deleted)).ToList())
            {
                _sessions.Remove(s.Record.Id);
                _accounts[s.Record.FirstAccountId].Sessions.Remove(s.Record.Id);
                _accounts[s.Record.SecondAccountId].Sessions.Remove(s.Record.Id);
                deleted++;
            }

            var gone = _accounts.Values
                .Where(a => a.LeftAtUnixMs < beforeUnixMs && a.Record.Endpoint is null && a.Record.AwaySinceUnixMs is null && !_waiting.ContainsKey(a.Record.Id) && a.Sessions.Count == 0)
                .OrderBy(a => a.LeftAtUnixMs).ThenBy(a => a.Record.Id).Take(Math.Max(0, limit - deleted)).ToList();
            foreach (var a in gone)
            {
                _accounts.Remove(a.Record.Id);
                deleted++;
            }

            return Task.FromResult(deleted);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public WriteOutcome NewAccount(StoreWrite.NewAccount write)
    {
        var a = write.Account;
        if ((WriteRules.OutOfRange("account", a.Id) ?? (_accounts.ContainsKey(a.Id) ? WriteRules.IdUsed("account", a.Id) : (WriteOutcome?)null)) is { } refused)
        {
            return refused;
        }

        _accounts.Add(a.Id, new Account(a) { LeftAtUnixMs = a.Endpoint is null ? a.CreatedAtUnixMs : null });
        return WriteOutcome.Stored;
    }

    public WriteOutcome AccountBound(StoreWrite.AccountBound write) =>
        Change(write.AccountId, a => (a.Record with { Endpoint = write.Endpoint, AwaySinceUnixMs = null }, null));

    public WriteOutcome AccountUnbound(StoreWrite.AccountUnbound write) =>
        Change(write.AccountId, a => (a.Record with { Endpoint = null, AwaySinceUnixMs = write.AwaySinceUnixMs }, write.AtUnixMs));

    public WriteOutcome AccountAway(StoreWrite.AccountAway write) =>
        Change(write.AccountId, a => (a.Record with { AwaySinceUnixMs = a.Record.AwaySinceUnixMs ?? write.AwaySinceUnixMs }, a.LeftAtUnixMs));

    public WriteOutcome BrokerGone(StoreWrite.BrokerGone g)
    {
        foreach (var a in _accounts.Values.Where(a => a.Record.Endpoint is { } e && e.Broker == g.Broker && (g.KeepIncarnation == 0 || e.Incarnation != g.KeepIncarnation)))
        {
            _waiting.Remove(a.Record.Id);
            var inSession = a.Sessions.Any(id => _sessions[id].Record.EndedAtUnixMs is null);
            a.Record = a.Record with { Endpoint = null, AwaySinceUnixMs = a.Record.AwaySinceUnixMs ?? (inSession ? g.AtUnixMs : null) };
            a.LeftAtUnixMs = g.AtUnixMs;
        }

        return WriteOutcome.Stored;
    }

    public WriteOutcome NewSession(StoreWrite.NewSession write)
    {
        // Kept smaller id first, as every store reads it back (the matchmaker names the waiting partner first).
        var s = write.Session.FirstAccountId < write.Session.SecondAccountId ? write.Session : write.Session with { FirstAccountId = write.Session.SecondAccountId, SecondAccountId = write.Session.FirstAccountId };
        if ((WriteRules.RefuseSession(write, this) ?? (_sessions.ContainsKey(s.Id) ? WriteRules.IdUsed("session", s.Id) : (WriteOutcome?)null)) is { } refused)
        {
            return refused;
        }

        foreach (var claimed in write.Claims)
        {
            _waiting.Remove(claimed);
        }

        _sessions.Add(s.Id, new Session(s));
        _accounts[s.FirstAccountId].Sessions.Add(s.Id);
        _accounts[s.SecondAccountId].Sessions.Add(s.Id);
        return WriteOutcome.Stored;
    }

    public WriteOutcome SessionEnded(StoreWrite.SessionEnded write)
    {
        if (_sessions.TryGetValue(write.SessionId, out var s) && s.Record.EndedAtUnixMs is null)
        {
            s.Record = s.Record with { EndedAtUnixMs = write.EndedAtUnixMs };
        }

        return WriteOutcome.Stored;
    }

    public WriteOutcome NewMessage(StoreWrite.NewMessage write)
    {
        var m = write.Message;
        var outcome = WriteRules.JudgeMessage(m, this);
        if (outcome.Result != WriteResult.Stored)
        {
            return outcome;
        }

        if (!_messageIds.Add(m.Id))
        {
            return WriteRules.IdUsed("message", m.Id);
        }

        var s = _sessions[m.SessionId];
        s.Messages.Add(m);
        s.Requests.Add((m.SenderId, m.RequestId), m.Id);
        return WriteOutcome.Stored;
    }

    public WriteOutcome ViewedUpTo(StoreWrite.ViewedUpTo write) => RaiseMark(write.SessionId, write.AccountId, write.MsgId, viewed: true);

    public WriteOutcome DeliveredUpTo(StoreWrite.DeliveredUpTo write) => RaiseMark(write.SessionId, write.AccountId, write.MsgId, viewed: false);

    public WriteOutcome WaitingAdded(StoreWrite.WaitingAdded write)
    {
        _waiting.TryAdd(write.AccountId, (write.SinceUnixMs, write.Profile));
        return WriteOutcome.Stored;
    }

    public WriteOutcome WaitingRemoved(StoreWrite.WaitingRemoved write)
    {
        _waiting.Remove(write.AccountId);
        return WriteOutcome.Stored;
    }

    public bool AccountExists(ulong accountId) => _accounts.ContainsKey(accountId);

    public bool IsWaiting(ulong accountId) => _waiting.ContainsKey(accountId);

    public int ActiveSessionsOf(ulong accountId) =>
        _accounts.TryGetValue(accountId, out var a) ? a.Sessions.Count(id => _sessions[id].Record.EndedAtUnixMs is null) : 0;

    public bool TryGetLastMsgId(ulong sessionId, out ulong lastMsgId)
    {
        lastMsgId = _sessions.TryGetValue(sessionId, out var s) && s.Messages.Count > 0 ? s.Messages[^1].Id : 0;
        return s is not null;
    }

    public ulong StoredUnder(MessageRecord message) => _sessions[message.SessionId].Requests.GetValueOrDefault((message.SenderId, message.RequestId));

    private Task<T> Read<T>(Func<T> read)
    {
        lock (_lock)
        {
            return Task.FromResult(read());
        }
    }

    private WriteOutcome Change(ulong accountId, Func<Account, (AccountRecord Record, long? LeftAtUnixMs)> change)
    {
        if (_accounts.TryGetValue(accountId, out var a))
        {
            (a.Record, a.LeftAtUnixMs) = change(a);
        }

        return WriteOutcome.Stored;
    }

    private WriteOutcome RaiseMark(ulong sessionId, ulong accountId, ulong msgId, bool viewed)
    {
        if (_sessions.TryGetValue(sessionId, out var s) && (s.Record.FirstAccountId == accountId || s.Record.SecondAccountId == accountId))
        {
            var marks = viewed ? s.Viewed : s.Delivered;
            ref var mark = ref marks[s.Record.FirstAccountId == accountId ? 0 : 1];
            mark = Math.Max(mark, msgId);
        }

        return WriteOutcome.Stored;
    }

    private sealed class Account(AccountRecord record)
    {
        public AccountRecord Record { get; set; } = record;

        /// <summary>Since when the account has had no socket (null while it has one), for retention.</summary>
        public long? LeftAtUnixMs { get; set; }

        /// <summary>Its sessions, by id, active or ended.</summary>
        public SortedSet<ulong> Sessions { get; } = [];
    }

    private sealed class Session(SessionRecord record)
    {
        public SessionRecord Record { get; set; } = record;

        /// <summary>In msgId order (a message is stored only above the last).</summary>
        public List<MessageRecord> Messages { get; } = [];

        public Dictionary<(ulong Sender, string RequestId), ulong> Requests { get; } = [];

        /// <summary>The first and second member's delivered-up-to and read-up-to marks.</summary>
        public ulong[] Delivered { get; } = new ulong[2];

        public ulong[] Viewed { get; } = new ulong[2];
    }
}
