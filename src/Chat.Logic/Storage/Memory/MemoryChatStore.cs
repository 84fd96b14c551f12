namespace Chat.Logic.Storage.Memory;

/// <summary>
/// A store that keeps everything in process memory: nothing survives a restart. For tests, for
/// measuring what durability costs, and for deployments that keep no history.
/// </summary>
public sealed class MemoryChatStore : IChatStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, AccountRecord> _accounts = [];
    private readonly Dictionary<ulong, SessionRecord> _sessions = [];
    private readonly Dictionary<ulong, List<MessageRecord>> _messagesBySession = [];
    private readonly Dictionary<(ulong Session, ulong Account), ulong> _delivered = [];
    private readonly Dictionary<(ulong Session, ulong Account), ulong> _viewed = [];
    private ulong _lastMessageId;

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<StoreHighWater> ReadHighWaterAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(new StoreHighWater(
                _accounts.Count == 0 ? 0 : _accounts.Keys.Max(),
                _sessions.Count == 0 ? 0 : _sessions.Keys.Max(),
                _lastMessageId));
        }
    }

    public Task WriteAsync(IReadOnlyList<StoreWrite> batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var write in batch)
            {
                Apply(write);
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

    public Task<ActiveState> LoadActiveAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var sessions = _sessions.Values.Where(s => s.EndedAtUnixMs is null).Select(s => new ActiveSessionState(
                s,
                _messagesBySession.TryGetValue(s.Id, out var messages) && messages.Count > 0 ? messages[^1].Id : 0,
                _delivered.GetValueOrDefault((s.Id, s.FirstAccountId)),
                _delivered.GetValueOrDefault((s.Id, s.SecondAccountId)),
                RecentRequests(s.Id))).ToList();
            var accounts = sessions.SelectMany(s => new[] { s.Session.FirstAccountId, s.Session.SecondAccountId })
                .Distinct().Select(id => _accounts[id]).ToList();
            return Task.FromResult(new ActiveState(sessions, accounts));
        }
    }

    private List<SentRequest> RecentRequests(ulong sessionId) =>
        _messagesBySession.TryGetValue(sessionId, out var messages)
            ? [.. messages.GroupBy(m => m.SenderId)
                .SelectMany(sent => sent.TakeLast(ActiveSessionState.RecentRequestLimit))
                .OrderBy(m => m.Id)
                .Select(m => new SentRequest(m.SenderId, m.RequestId, m.Id))]
            : [];

    public Task<IReadOnlyList<MessageRecord>> ReadMessagesForAsync(ulong sessionId, ulong receiverId, ulong afterMsgId, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<MessageRecord> found = _messagesBySession.TryGetValue(sessionId, out var messages)
                ? messages.Where(m => m.Id > afterMsgId && m.SenderId != receiverId).Take(limit).ToList()
                : [];
            return Task.FromResult(found);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Apply(StoreWrite write)
    {
        switch (write)
        {
            case StoreWrite.NewAccount { Account: var a }:
                _accounts[a.Id] = a;
                break;
            case StoreWrite.NewSession { Session: var s }:
                _sessions[s.Id] = s;
                break;
            case StoreWrite.SessionEnded e when _sessions.TryGetValue(e.SessionId, out var s) && s.EndedAtUnixMs is null:
                _sessions[e.SessionId] = s with { EndedAtUnixMs = e.EndedAtUnixMs };
                break;
            case StoreWrite.SessionEnded:
                break;
            case StoreWrite.NewMessage { Message: var m }:
                if (!_messagesBySession.TryGetValue(m.SessionId, out var list))
                {
                    _messagesBySession[m.SessionId] = list = [];
                }

                list.Add(m);
                _lastMessageId = Math.Max(_lastMessageId, m.Id);
                break;
            case StoreWrite.ViewedUpTo v:
                _viewed[(v.SessionId, v.AccountId)] = Math.Max(_viewed.GetValueOrDefault((v.SessionId, v.AccountId)), v.MsgId);
                break;
            case StoreWrite.DeliveredUpTo d:
                _delivered[(d.SessionId, d.AccountId)] = Math.Max(_delivered.GetValueOrDefault((d.SessionId, d.AccountId)), d.MsgId);
                break;
            default:
                throw new NotSupportedException($"Unknown store write {write.GetType().Name}.");
        }
    }
}
