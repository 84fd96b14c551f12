using System.Runtime.InteropServices;
using Chat.Logic.Abuse;
using Chat.Logic.Ids;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Logic.Matching;

/// <summary>
/// First come, first served. Reentrant: a match changes the pool before its first await, so two
/// matches never take the same waiting visitor, and one waiting for its commit does not hold up
/// the next. Its writes keep their order in the store writer's queue. The cap on an account's
/// sessions is checked here, in the same turn that pairs it: nowhere else sees every new session
/// before it exists, so two matches at once cannot both slip under it. It also holds the two limits
/// that are about matching, counted here because every match of the cluster is made here: visitors
/// waiting per address, and matches per account per minute (matches made: a MATCH_REQ repeated while
/// waiting costs nothing).
/// </summary>
[Reentrant]
internal sealed partial class MatchmakerGrain(
    IChatStore store,
    StoreWriter writer,
    IdAllocator ids,
    AddressRules rules,
    IOptions<LogicOptions> options,
    TimeProvider time,
    ILogger<MatchmakerGrain> logger) : Grain, IMatchmakerGrain
{
    /// <summary>What a visitor refused for waiting is told to wait before asking again.</summary>
    private const int WaitingRetryAfterSeconds = 5;

    private readonly int _maxSessions = options.Value.MaxActiveSessions;
    private readonly WaitingPool _pool = new();
    private readonly ActivePairs _pairs = new();
    private readonly AvoidedPairs _avoided = new();

    // Per account that matched lately: its matches of the last minute, against the limit and against
    // the challenge's threshold. Both full, it is forgotten.
    private readonly Dictionary<ulong, RecentMatches> _matches = [];
    private long _matchesSweptAt;

    // Added to the pool, the store write not yet committed: a prune must not take them for gone.
    private readonly HashSet<ulong> _adding = [];

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var pair in await store.LoadActivePairsAsync(cancellationToken))
        {
            _pairs.Add(pair);
        }

        foreach (var waiting in await store.LoadWaitingAsync(cancellationToken))
        {
            _pool.Add(waiting.AccountId);
        }

        Log.Loaded(logger, _pool.Count, _pairs.Count);
    }

    public async Task<MatchTicket> Match(ulong callerId, string? address, bool solved, bool reported)
    {
        if (_pool.Contains(callerId))
        {
            return new MatchTicket(ResultCode.NoDataFound); // keeps its place
        }

        if (_pairs.SessionsOf(callerId) >= _maxSessions)
        {
            return new MatchTicket(ResultCode.ParamErr); // no further session, nor a place in the pool
        }

        if (reported && !solved)
        {
            return new MatchTicket(ResultCode.ChallengeRequired, Refused: Refusal.Reported);
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (OutOfMatches(callerId, address, solved, now) is { } refused)
        {
            return refused;
        }

        if (_pool.FindOldest(candidate => candidate != callerId && !_pairs.Contains(Pair(callerId, candidate)) && _pairs.SessionsOf(candidate) < _maxSessions
            && !_avoided.Avoids(callerId, address, candidate, _pool.AddressOf(candidate), now)) is not { } partnerId)
        {
            if (address is not null && rules.For(address).Waiting is > 0 and var waiting && _pool.WaitingFrom(address) >= waiting)
            {
                return new MatchTicket(ResultCode.RateLimited, RetryAfter: WaitingRetryAfterSeconds, Refused: Refusal.Waiting, Limit: waiting);
            }

            _pool.Add(callerId, address);
            _adding.Add(callerId);
            try
            {
                await writer.WriteAsync(new StoreWrite.WaitingAdded(callerId, time.GetUtcNow().ToUnixTimeMilliseconds()));
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, ex);
                _pool.Remove(callerId);
                return new MatchTicket(ResultCode.InternalErr);
            }
            finally
            {
                _adding.Remove(callerId);
            }

            return new MatchTicket(ResultCode.NoDataFound);
        }

        var partnerAddress = _pool.AddressOf(partnerId);
        _pool.Remove(partnerId);
        var pair = Pair(callerId, partnerId);
        _pairs.Add(pair);
        CountMatch(callerId, now);
        CountMatch(partnerId, now);
        try
        {
            var sessionId = await ids.NextAsync(IdKind.Session);
            var left = writer.WriteAsync(new StoreWrite.WaitingRemoved(partnerId));
            var created = writer.WriteAsync(new StoreWrite.NewSession(new SessionRecord(sessionId, partnerId, callerId, time.GetUtcNow().ToUnixTimeMilliseconds())));
            await Task.WhenAll(left, created);
            return new MatchTicket(ResultCode.Success, sessionId, partnerId, PartnerAddress: partnerAddress);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex);
            _pairs.Remove(pair);
            _pool.AddFirst(partnerId, partnerAddress); // it waited longest; its waiting row may be gone, the pool in memory still has it
            return new MatchTicket(ResultCode.InternalErr);
        }
    }

    public async Task Leave(ulong accountId)
    {
        if (_pool.Remove(accountId))
        {
            await writer.WriteAsync(new StoreWrite.WaitingRemoved(accountId));
        }
    }

    public async Task Prune()
    {
        // Only who was waiting, written to the store, before the read began can be missing from it for good.
        var written = _pool.Where(id => !_adding.Contains(id)).ToList();
        var waiting = (await store.LoadWaitingAsync(CancellationToken.None)).Select(w => w.AccountId).ToHashSet();
        foreach (var accountId in written.Where(id => !waiting.Contains(id)))
        {
            _pool.Remove(accountId);
        }
    }

    public Task Avoid(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accountsFor, TimeSpan addressesFor)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        _avoided.Add(a, b, addressA, addressB, now + (long)accountsFor.TotalMilliseconds, now + (long)addressesFor.TotalMilliseconds, now);
        return Task.CompletedTask;
    }

    public Task PairEnded(ulong first, ulong second)
    {
        _pairs.Remove(Pair(first, second));
        return Task.CompletedTask;
    }

    /// <summary>
    /// A refusal if the caller has made as many matches this minute as it may, or a demand for a
    /// challenge if it has had more new partners than a person would (and has none solved; a caller
    /// without an address cannot be given one).
    /// </summary>
    private MatchTicket? OutOfMatches(ulong callerId, string? address, bool solved, long now)
    {
        var (perMinute, challengeAfter) = (rules.Options.MatchesPerMinute, rules.Options.Challenge.AfterMatches);
        if (perMinute <= 0 && challengeAfter <= 0)
        {
            return null;
        }

        if (now - _matchesSweptAt > 60_000)
        {
            _matchesSweptAt = now;
            foreach (var (accountId, recent) in _matches)
            {
                if ((perMinute <= 0 || recent.Matches.IsFull(now, perMinute)) && (challengeAfter <= 0 || recent.Unchallenged.IsFull(now, challengeAfter)))
                {
                    _matches.Remove(accountId);
                }
            }
        }

        if (!_matches.TryGetValue(callerId, out var matches))
        {
            return null;
        }

        if (perMinute > 0 && !matches.Matches.CanTake(now, perMinute, perMinute))
        {
            return new MatchTicket(ResultCode.RateLimited, RetryAfter: matches.Matches.SecondsUntilOne(now, perMinute, perMinute), Refused: Refusal.Matches, Limit: perMinute);
        }

        return challengeAfter > 0 && address is not null && !solved && !matches.Unchallenged.CanTake(now, challengeAfter, challengeAfter)
            ? new MatchTicket(ResultCode.ChallengeRequired, Limit: challengeAfter)
            : null;
    }

    private void CountMatch(ulong accountId, long now)
    {
        var (perMinute, challengeAfter) = (rules.Options.MatchesPerMinute, rules.Options.Challenge.AfterMatches);
        if (perMinute > 0 || challengeAfter > 0)
        {
            ref var recent = ref CollectionsMarshal.GetValueRefOrAddDefault(_matches, accountId, out _);
            if (perMinute > 0)
            {
                recent.Matches.Take(now, perMinute, perMinute);
            }

            if (challengeAfter > 0)
            {
                recent.Unchallenged.Take(now, challengeAfter, challengeAfter);
            }
        }
    }

    /// <summary>An account's matches of the last minute: against the limit, and against the challenge's threshold.</summary>
    private struct RecentMatches
    {
        public Allowance Matches;
        public Allowance Unchallenged;
    }

    private static ActivePair Pair(ulong a, ulong b) => a < b ? new ActivePair(a, b) : new ActivePair(b, a);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Matchmaker ready: {Waiting} waiting, {Pairs} pairs talking.")]
        public static partial void Loaded(ILogger logger, int waiting, int pairs);

        [LoggerMessage(2, LogLevel.Error, "Matchmaker: a store write failed.")]
        public static partial void StoreFailed(ILogger logger, Exception exception);
    }
}
