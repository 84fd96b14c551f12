namespace Chat.Logic.Abuse;

/// <summary>
/// What the limits remember of one address (an IPv4 address or an IPv6 /64): its new-account
/// allowances, its open sockets per broker and the challenges it has had accepted. It lives in the
/// address's shard and is forgotten once it holds nothing a fresh one would not (<see cref="IsQuiet"/>).
/// Later rules about an address (a report against it, a ban) belong here too.
/// </summary>
internal sealed class AddressRecord
{
    /// <summary>New accounts: the address's budget (<see cref="LimitOptions.AccountsPerMinute"/>).</summary>
    public Allowance Accounts;

    /// <summary>New accounts that need no challenge (<see cref="ChallengeOptions.AfterAccounts"/>).</summary>
    public Allowance Unchallenged;

    /// <summary>Reports filed from the address (<see cref="LimitOptions.ReportsPerHour"/>).</summary>
    public Allowance Reports;

    /// <summary>Reconnects that named no account or the wrong token (<see cref="LimitOptions.FailedReconnectsPerMinute"/>).</summary>
    public Allowance FailedReconnects;

    private List<BrokerSockets>? _sockets;
    private Dictionary<string, long>? _spent;

    /// <summary>Open sockets over every broker that has been heard from since <paramref name="freshSince"/>.</summary>
    public int OpenSockets(long freshSince)
    {
        var open = 0;
        foreach (var sockets in _sockets ?? [])
        {
            if (sockets.HeardAt >= freshSince)
            {
                open += sockets.Count;
            }
        }

        return open;
    }

    public void SocketOpened(string broker, long now)
    {
        var sockets = On(broker);
        sockets.Count++;
        sockets.HeardAt = now;
    }

    public void SocketClosed(string broker, long now)
    {
        var sockets = On(broker);
        sockets.Count = Math.Max(0, sockets.Count - 1);
        sockets.HeardAt = now;
    }

    /// <summary>The broker's own count, from its regular report.</summary>
    public void SocketsHeld(string broker, int count, long now)
    {
        var sockets = On(broker);
        sockets.Count = Math.Max(0, count);
        sockets.HeardAt = now;
    }

    public bool IsSpent(string challengeId) => _spent?.ContainsKey(challengeId) == true;

    public void Spend(SolvedChallenge solved) => (_spent ??= new(StringComparer.Ordinal))[solved.Id] = solved.ExpiresAt;

    /// <summary>
    /// Drops what has run out (brokers not heard from since <paramref name="freshSince"/>, closed
    /// sockets, spent challenges past their expiry) and says whether anything is left to remember.
    /// </summary>
    public bool IsQuiet(long now, long freshSince, AddressLimits limits)
    {
        _sockets?.RemoveAll(s => s.Count == 0 || s.HeardAt < freshSince);
        if (_spent is not null)
        {
            var nowSeconds = now / 1000;
            foreach (var (id, expiresAt) in _spent)
            {
                if (expiresAt <= nowSeconds)
                {
                    _spent.Remove(id);
                }
            }
        }

        return _sockets is null or { Count: 0 }
            && _spent is null or { Count: 0 }
            && (limits.AccountsPerMinute <= 0 || Accounts.IsFull(now, limits.AccountsPerMinute))
            && (limits.ChallengeAfter <= 0 || Unchallenged.IsFull(now, limits.ChallengeAfter))
            && (limits.ReportsPerHour <= 0 || Reports.IsFull(now, limits.ReportsPerHour / 60))
            && (limits.FailedReconnectsPerMinute <= 0 || FailedReconnects.IsFull(now, limits.FailedReconnectsPerMinute));
    }

    private BrokerSockets On(string broker)
    {
        _sockets ??= new List<BrokerSockets>(1);
        foreach (var sockets in _sockets)
        {
            if (sockets.Broker == broker)
            {
                return sockets;
            }
        }

        var added = new BrokerSockets(broker);
        _sockets.Add(added);
        return added;
    }

    private sealed class BrokerSockets(string broker)
    {
        public string Broker { get; } = broker;

        public int Count { get; set; }

        public long HeardAt { get; set; }
    }
}
