using System.Runtime.InteropServices;
using Chat.Logic.Abuse;
using Chat.Logic.Diagnostics;
using Chat.Logic.Ids;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Logic.Matching;

/// <summary>
/// One matchmaker shard. A visitor is taken out of a pool in one turn, before any await, and only by
/// the shard it waits in (a request here, or <see cref="Take"/> for another shard's seeker), so no
/// two matches ever get the same visitor. Reentrant: one match waiting for its commit does not hold up
/// the next; its writes keep their order in the store writer's queue. The cap on an account's
/// sessions, the partners it has, and its matches of the last minute are kept in the account's own
/// shard (a pair across shards is known to both), and checked in the turn that pairs it. The limit
/// of visitors waiting per address is counted in the address's <see cref="IAddressShardGrain"/>,
/// once for the cluster.
/// </summary>
[Reentrant]
internal sealed partial class MatchmakerGrain(
    IChatStore store,
    StoreWriter writer,
    IdAllocator ids,
    AddressRules rules,
    ChatGrains grains,
    IOptions<LogicOptions> options,
    IOptions<MatchingOptions> matching,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<MatchmakerGrain> logger) : Grain, IMatchmakerGrain, IPairRules
{
    /// <summary>What a visitor refused for waiting is told to wait before asking again.</summary>
    private const int WaitingRetryAfterSeconds = 5;

    /// <summary>
    /// How long a shard waits for another's answer: two shards asking each other while their silo
    /// stops would otherwise each hold up the other's deactivation until the call's own timeout.
    /// </summary>
    private static readonly TimeSpan ShardCallTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a visitor handed out to another shard may stay neither paired nor given back before this shard asks (<see cref="ReclaimAsync"/>).</summary>
    private static readonly TimeSpan ReclaimAfter = 5 * ShardCallTimeout;

    /// <summary>How long a caller's pairing is kept for a request after a lost answer, and how many a shard keeps at most.</summary>
    private static readonly TimeSpan KeptFor = TimeSpan.FromMinutes(1);
    private const int MaxKept = 50_000;

    private readonly MatchingOptions _matching = matching.Value;
    private readonly int _maxSessions = options.Value.MaxActiveSessions;
    private readonly WaitingPool _pool = new(matching.Value.FallbackDelay, matching.Value.CandidatesPerInterest, otherShards: matching.Value.Shards > 1);
    private readonly ActivePairs _pairs = new();
    private readonly AvoidList _avoid = new();
    private int _shard;

    // The other shards, the next one first.
    private int[] _others = [];

    // Per account that matched lately: its matches of the last minute, against the limit and against
    // the challenge's threshold. Both full, it is forgotten.
    private readonly Dictionary<ulong, RecentMatches> _matches = [];
    private long _matchesSweptAt;

    // Added to the pool, the store write not yet committed: a prune must not take them for gone.
    private readonly HashSet<ulong> _adding = [];

    // Callers with a request under way (Match): a second request of theirs meanwhile only waits.
    private readonly HashSet<ulong> _seeking = [];

    // Visitors handed to another shard's seeker, not yet known to be paired (kept until their pair ends).
    private readonly Dictionary<ulong, HandedOut> _handedOut = [];

    // Callers' latest pairings, for a minute: given again to a request after a lost answer (the caller's
    // broker says so, or Unheard marked it).
    private readonly Dictionary<ulong, KeptTicket> _kept = [];

    // Visitors holding a place in their address's count of visitors waiting.
    private readonly Dictionary<ulong, string> _holding = [];

    private bool _sweeping;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _shard = (int)this.GetPrimaryKeyLong();
        _others = new int[_matching.Shards - 1];
        for (var step = 1; step < _matching.Shards; step++)
        {
            _others[step - 1] = (_shard + step) % _matching.Shards;
        }

        // The pairs before and after the waiting rows: a pair written between the two reads (its session
        // is written before its members' waiting rows go) was made of a visitor handed out by this
        // shard's previous activation, whose row read here is a moment from going: it does not wait.
        var before = new HashSet<ActivePair>();
        foreach (var pair in await store.LoadActivePairsAsync(cancellationToken))
        {
            if (IsMine(pair.First) || IsMine(pair.Second))
            {
                before.Add(pair);
            }
        }

        var waitingRows = await store.LoadWaitingAsync(cancellationToken);
        var pairedMeanwhile = new HashSet<ulong>();
        foreach (var pair in await store.LoadActivePairsAsync(cancellationToken))
        {
            if (IsMine(pair.First) || IsMine(pair.Second))
            {
                _pairs.Add(pair);
                if (!before.Contains(pair))
                {
                    pairedMeanwhile.Add(pair.First);
                    pairedMeanwhile.Add(pair.Second);
                }
            }
        }

        var now = Now;
        foreach (var waiting in waitingRows)
        {
            if (IsMine(waiting.AccountId) && !pairedMeanwhile.Contains(waiting.AccountId))
            {
                _pool.Add(WaitingVisitor.FromStore(waiting.AccountId, waiting.SinceUnixMs, waiting.Profile), now);
            }
        }

        await AdoptHandedOutAsync();

        Log.Loaded(logger, _shard, _pool.Count, _pairs.Count);
    }

    /// <summary>
    /// A shard rebuilt after its node died may load a visitor its previous activation had just handed
    /// out to another shard's seeker: that shard's pair is not written yet, so the store still has the
    /// visitor waiting. Paired here too, it would be in two chats. So every other shard is asked which
    /// pairs it holds with the accounts loaded here; one the store does not have (its write is on the
    /// way, or it ended a moment ago) is taken for a hand-out of this shard's: out of the pool, counted
    /// against the cap, and reclaimed after <see cref="ReclaimAfter"/> if that shard then holds it no more.
    /// </summary>
    private async Task AdoptHandedOutAsync()
    {
        if (_others.Length == 0)
        {
            return;
        }

        var accounts = new List<ulong>(_pool.Count);
        foreach (var visitor in _pool.Visitors)
        {
            accounts.Add(visitor.AccountId);
        }

        if (accounts.Count == 0)
        {
            return;
        }

        await OutOfTurnAsync();
        var asks = new Task<HeldPair[]>[_others.Length];
        for (var j = 0; j < _others.Length; j++)
        {
            asks[j] = PairsOfAsync(_others[j], [.. accounts]);
        }

        foreach (var answer in await Task.WhenAll(asks))
        {
            foreach (var held in answer)
            {
                var pair = Pair(held.AccountId, held.PartnerId);
                if (!IsMine(held.AccountId) || _pairs.Contains(pair) || _pool.Remove(held.AccountId) is not { } visitor)
                {
                    continue; // a chat the store has
                }

                _pairs.Add(pair);
                _handedOut[held.AccountId] = new HandedOut(held.PartnerId, visitor, Environment.TickCount64);
                Log.Adopted(logger, _shard, held.AccountId);
            }
        }
    }

    private async Task<HeldPair[]> PairsOfAsync(int shard, ulong[] accountIds)
    {
        try
        {
            return await grains.Matchmaker(shard).PairsOf(accountIds).WaitAsync(ShardCallTimeout);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex); // rebuilt too: it knows what the store knows
            return [];
        }
    }

    public async Task<MatchTicket> Match(MatchCall call)
    {
        // A request while the caller's last is under way (its client asked again after its broker gave up
        // on that one) only waits: it could otherwise pair the caller a second time. The first one's
        // answer, should it reach nobody, is pushed to the caller (GrainLogic, Unheard).
        if (!_seeking.Add(call.CallerId))
        {
            return new MatchTicket(ResultCode.NoDataFound);
        }

        try
        {
            return await MatchNowAsync(call);
        }
        finally
        {
            _seeking.Remove(call.CallerId);
        }
    }

    private async Task<MatchTicket> MatchNowAsync(MatchCall call)
    {
        var now = Now;
        var callerId = call.CallerId;
        if (_kept.TryGetValue(callerId, out var kept))
        {
            if (kept.UntilUnixMs <= now || !_pairs.Contains(Pair(callerId, kept.Ticket.PartnerId)))
            {
                _kept.Remove(callerId);
            }
            else if (kept.Unheard || call.AfterLostAnswer)
            {
                _kept.Remove(callerId);
                return kept.Ticket with { Again = true }; // it never heard of its partner: the same one again
            }
        }

        if (_pool.Get(callerId) is { } waiting)
        {
            return await MatchWaitingAsync(waiting, call, now); // keeps its place and its fallback clock
        }

        if (call.AfterLostAnswer && (_pairs.SessionsOf(callerId) > 0 || _handedOut.ContainsKey(callerId)))
        {
            // Its lost request left it waiting, and someone took it since (it hears of that chat by
            // NewSession), or it is being taken now: not a request for a second chat. Its next one may be.
            return new MatchTicket(ResultCode.NoDataFound);
        }

        if (_pairs.SessionsOf(callerId) >= _maxSessions)
        {
            return new MatchTicket(ResultCode.ParamErr); // no further session, nor a place in the pool
        }

        if (call.Reported && !call.Solved)
        {
            return new MatchTicket(ResultCode.ChallengeRequired, Refused: Refusal.Reported); // its address was reported lately
        }

        if (OutOfMatches(callerId, call.Address, call.Solved, now) is { } refused)
        {
            return refused;
        }

        var caller = new WaitingVisitor(callerId, call.Address, call.Interests, call.Lang, call.Fallback, now);
        var local = _pool.FindFor(caller, now, this);
        if (local is { } found && (_matching.Shards == 1 || caller.Interests.Length == 0 || found.Shared == caller.Interests.Length))
        {
            // Nobody elsewhere can do better (all its interests shared), or it asked for none: first come, first served in its shard.
            _pool.Remove(found.Partner.AccountId);
            return await PairAsync(caller, found.Partner, found.Shared, callerWasWaiting: false, partnerShard: _shard);
        }

        if (_matching.Shards == 1)
        {
            return await WaitAsync(caller);
        }

        return await MatchAcrossShardsAsync(caller, callerWaits: false);
    }

    public Task<Candidate?> Peek(WaitingVisitor seeker) =>
        Task.FromResult(_pool.FindFor(seeker, Now, this) is { } found ? new Candidate(found.Partner, found.Shared) : null);

    public Task<WaitingVisitor?> TakeExactly(WaitingVisitor seeker, ulong candidateId)
    {
        var now = Now;
        // Not one whose waiting row is not committed yet: the seeker's shard claims it in the store.
        if (_adding.Contains(candidateId) || _pool.Fitting(seeker, candidateId, now, this) is not { } candidate)
        {
            return Task.FromResult<WaitingVisitor?>(null);
        }

        HandOut(seeker.AccountId, candidate, now);
        return Task.FromResult<WaitingVisitor?>(candidate);
    }

    public async Task Leave(ulong accountId)
    {
        if (_handedOut.TryGetValue(accountId, out var handedOut))
        {
            handedOut.Left = true; // its seeker's shard decides; if it gives it back, it is gone
        }

        if (_pool.Remove(accountId) is not null)
        {
            Release(accountId);
            await writer.WriteAsync(new StoreWrite.WaitingRemoved(accountId));
        }
    }

    public async Task Prune()
    {
        // Only who was waiting, written to the store, before the read began can be missing from it for good.
        var written = _pool.Visitors.Select(v => v.AccountId).Where(id => !_adding.Contains(id)).ToList();
        var waiting = (await store.LoadWaitingAsync(CancellationToken.None)).Select(w => w.AccountId).ToHashSet();
        foreach (var accountId in written.Where(id => !waiting.Contains(id)))
        {
            if (_pool.Remove(accountId) is not null)
            {
                Release(accountId);
            }
        }
    }

    public Task Unheard(ulong callerId, MatchTicket ticket)
    {
        Keep(callerId, ticket, unheard: true);
        return Task.CompletedTask;
    }

    private void Keep(ulong callerId, MatchTicket ticket, bool unheard)
    {
        var now = Now;
        if (_kept.Count >= MaxKept)
        {
            foreach (var (accountId, kept) in _kept)
            {
                if (kept.UntilUnixMs <= now)
                {
                    _kept.Remove(accountId);
                }
            }
        }

        if (_kept.Count < MaxKept || _kept.ContainsKey(callerId))
        {
            _kept[callerId] = new KeptTicket(ticket, now + (long)KeptFor.TotalMilliseconds, unheard);
        }
    }

    private readonly record struct KeptTicket(MatchTicket Ticket, long UntilUnixMs, bool Unheard);

    public Task PairEnded(ulong first, ulong second)
    {
        _pairs.Remove(Pair(first, second));
        _handedOut.Remove(first);
        _handedOut.Remove(second);
        return Task.CompletedTask;
    }

    public Task<WaitingVisitor?[]> Take(WaitingVisitor[] seekers)
    {
        var now = Now;
        var taken = new WaitingVisitor?[seekers.Length];
        for (var i = 0; i < seekers.Length; i++)
        {
            var seeker = seekers[i];
            // Not one whose waiting row is not committed yet: the seeker's shard claims it in the store.
            if (_pool.FindFor(seeker, now, this) is not { } found || _adding.Contains(found.Partner.AccountId))
            {
                continue;
            }

            HandOut(seeker.AccountId, found.Partner, now);
            taken[i] = found.Partner;
        }

        return Task.FromResult(taken);
    }

    public Task GiveBack(ulong seekerId, WaitingVisitor visitor)
    {
        _pairs.Remove(Pair(seekerId, visitor.AccountId));
        if (_handedOut.Remove(visitor.AccountId, out var handedOut) && !handedOut.Left)
        {
            _pool.Add(visitor, Now); // its place is its since (its place in its address's count was released when it was handed out)
        }

        return Task.CompletedTask;
    }

    public async Task Sweep()
    {
        var now = Now;
        if (_sweeping)
        {
            return; // one at a time (every node's sweeper calls every shard)
        }

        _sweeping = true;
        var pairing = new List<Task>();
        try
        {
            _avoid.Sweep(now);
            await ReclaimAsync();
            _pool.Advance(now);
            var seekers = new List<WaitingVisitor>();
            var searching = new List<WaitingVisitor>();
            var offers = _pool.TakeToOffer(_matching.OffersPerSweep);
            foreach (var offered in offers)
            {
                if (!_pool.Contains(offered.AccountId))
                {
                    continue; // taken by an earlier pair of this sweep
                }

                var found = _pool.FindFor(offered, now, this);
                if (_pool.AwaitsSearch(offered, now) && (found is null || found.Value.Shared < offered.Interests.Length))
                {
                    // Its delay passed: not paired with the first who fits here, but with whoever shares
                    // the most anywhere, and with anyone only once no shard has someone sharing one.
                    searching.Add(offered);
                }
                else if (found is { } here)
                {
                    _pool.Remove(offered.AccountId);
                    _pool.Remove(here.Partner.AccountId);
                    pairing.Add(PairBothAsync(offered, here.Partner, _shard, now));
                }
                else
                {
                    seekers.Add(offered);
                }
            }

            // Only the shards after this one: a pair of shards is looked at by the lower one's sweep
            // alone, so two sweeps never each hand out the other's seeker (both would give back what
            // they took). Every visitor waiting here is offered again and again, a batch per sweep, so a
            // pair of visitors that missed each other (each asked the other's shard before the other
            // waited there) is found on a following sweep.
            for (var shard = _shard + 1; shard < _matching.Shards && seekers.Count > 0; shard++)
            {
                if (await TakeFromAsync(shard, [.. seekers]) is not { } taken)
                {
                    continue;
                }

                var still = new List<WaitingVisitor>(seekers.Count);
                for (var i = 0; i < seekers.Count; i++)
                {
                    var seeker = _pool.Get(seekers[i].AccountId);
                    if (taken[i] is { } partner)
                    {
                        if (seeker is null || _pairs.SessionsOf(seeker.AccountId) >= _maxSessions || _pairs.Contains(Pair(seeker.AccountId, partner.AccountId)))
                        {
                            GiveBack(shard, seekers[i].AccountId, partner);
                            continue;
                        }

                        _pool.Remove(seeker.AccountId);
                        pairing.Add(PairBothAsync(seeker, partner, shard, Now));
                    }
                    else if (seeker is not null)
                    {
                        still.Add(seeker);
                    }
                }

                seekers = still;
            }

            if (searching.Count > 0 && await SearchOtherShardsAsync([.. searching], pairing) is { Length: > 0 } opened)
            {
                // Open to anyone now, with nobody here: the same search finds the first who fits in the
                // other shards. Of two shards whose visitors opened in the same sweeps, the later one to
                // open finds the other open, so they are paired in this sweep, not a later one.
                await SearchOtherShardsAsync(opened, pairing);
            }

            if (_matching.Shards > 1)
            {
                foreach (var offered in offers)
                {
                    // The top shard's visitors are found by the lower shards' sweeps, unless still to be searched for.
                    if (_pool.Get(offered.AccountId) is { } waiting && (_shard + 1 < _matching.Shards || _pool.AwaitsSearch(waiting, Now)))
                    {
                        _pool.Offer(offered.AccountId);
                    }
                }
            }
        }
        finally
        {
            _sweeping = false;
        }

        await Task.WhenAll(pairing);
    }

    public Task<Candidate?[]> PeekEach(WaitingVisitor[] seekers)
    {
        var now = Now;
        var found = new Candidate?[seekers.Length];
        for (var i = 0; i < seekers.Length; i++)
        {
            if (_pool.FindFor(seekers[i], now, this) is { } best)
            {
                found[i] = new Candidate(best.Partner, best.Shared);
            }
        }

        return Task.FromResult(found);
    }

    public async Task Claim(WaitingVisitor[] seekers, ulong[] partnerIds)
    {
        await OutOfTurnAsync();
        var now = Now;
        var asked = new HashSet<ulong>();
        var takes = new List<Task>(seekers.Length);
        var pairing = new List<Task>(seekers.Length);
        for (var i = 0; i < seekers.Length; i++)
        {
            // One seeker per visitor of this shard: a second would be handed out only to be given back.
            if (_pool.Fitting(seekers[i], partnerIds[i], now, this) is { } mine && asked.Add(mine.AccountId))
            {
                var shard = MatchShards.Of(seekers[i].AccountId, _matching.Shards);
                takes.Add(PairWhenHandedOutAsync(mine.AccountId, shard, TakeExactlyFromAsync(shard, mine, seekers[i].AccountId), pairing));
            }
        }

        await Task.WhenAll(takes);
        await Task.WhenAll(pairing);
    }

    /// <summary>
    /// Pairs <paramref name="mineId"/>, waiting here, with the visitor <paramref name="shard"/> hands out
    /// for it as soon as the answer comes (the pair is counted at once, so a rebuilt shard asking
    /// <see cref="PairsOf"/> learns of it), or gives that visitor back if this one is gone meanwhile.
    /// </summary>
    private async Task PairWhenHandedOutAsync(ulong mineId, int shard, Task<WaitingVisitor?> take, List<Task> pairing)
    {
        if (await take is not { } partner)
        {
            return; // taken meanwhile, no longer fitting, or no answer: searched again on a later sweep
        }

        if (_pool.Get(mineId) is not { } mine || _pairs.SessionsOf(mineId) >= _maxSessions || _pairs.Contains(Pair(mineId, partner.AccountId)))
        {
            GiveBack(shard, mineId, partner);
            return;
        }

        _pool.Remove(mineId);
        pairing.Add(PairBothAsync(mine, partner, shard, Now));
    }

    /// <summary>
    /// The search for visitors whose fallback delay passed (<see cref="WaitingPool.AwaitsSearch"/>): every
    /// other shard is asked at once, for all of them, for its best partner sharing an interest (read only,
    /// the same bound per interest as any search); each is paired with the best of all, its own shard's on
    /// a tie. Claims keep the sweeps' one direction: from a shard after this one it is taken here
    /// (<see cref="IMatchmakerGrain.TakeExactly"/>); from one before, that shard is asked to take it
    /// (<see cref="IMatchmakerGrain.Claim"/>), so a shard never hands out a visitor to a seeker of a
    /// shard after it. One that nobody anywhere shares an interest with, every shard having answered, is
    /// open to anyone from then on, and paired with the first who fits here; the others opened are
    /// returned (as they now wait), to be searched for again. Asked for visitors open to anyone, it
    /// pairs them with the first who fits anywhere.
    /// </summary>
    private async Task<WaitingVisitor[]> SearchOtherShardsAsync(WaitingVisitor[] searching, List<Task> pairing)
    {
        var asks = new Task<Candidate?[]?>[_others.Length];
        for (var j = 0; j < _others.Length; j++)
        {
            asks[j] = PeekEachAsync(_others[j], searching);
        }

        var answers = await Task.WhenAll(asks);
        var now = Now;
        var takes = new List<Task>();
        Dictionary<int, (List<WaitingVisitor> Seekers, List<ulong> Partners)>? claims = null;
        List<WaitingVisitor>? opened = null;
        for (var i = 0; i < searching.Length; i++)
        {
            var seeker = searching[i];
            if (!ReferenceEquals(_pool.Get(seeker.AccountId), seeker) || _pairs.SessionsOf(seeker.AccountId) >= _maxSessions)
            {
                continue; // paired meanwhile, its wish changed (searched for anew), or at its cap
            }

            var (bestShard, best) = _pool.FindFor(seeker, now, this) is { } here ? (_shard, new Candidate(here.Partner, here.Shared)) : (-1, null);
            var answered = true;
            for (var j = 0; j < _others.Length; j++)
            {
                if (answers[j] is not { } answer)
                {
                    answered = false; // asked again on the next sweep
                }
                else if (answer[i] is { } there && (best is null || there.Shared > best.Shared || (there.Shared == best.Shared && there.Visitor.SinceUnixMs < best.Visitor.SinceUnixMs)))
                {
                    (bestShard, best) = (_others[j], there);
                }
            }

            if (best is null)
            {
                if (answered && _pool.AwaitsSearch(seeker, now) && _pool.MarkSearched(seeker.AccountId, now) is { } open)
                {
                    if (_pool.FindFor(open, now, this) is { } anyone)
                    {
                        _pool.Remove(open.AccountId);
                        _pool.Remove(anyone.Partner.AccountId);
                        pairing.Add(PairBothAsync(open, anyone.Partner, _shard, now));
                    }
                    else
                    {
                        (opened ??= []).Add(open);
                    }
                }
            }
            else if (bestShard == _shard)
            {
                _pool.Remove(seeker.AccountId);
                _pool.Remove(best.Visitor.AccountId);
                pairing.Add(PairBothAsync(seeker, best.Visitor, _shard, now));
            }
            else if (bestShard > _shard)
            {
                takes.Add(PairWhenHandedOutAsync(seeker.AccountId, bestShard, TakeExactlyFromAsync(bestShard, seeker, best.Visitor.AccountId), pairing));
            }
            else
            {
                claims ??= [];
                if (!claims.TryGetValue(bestShard, out var claim))
                {
                    claims[bestShard] = claim = ([], []);
                }

                claim.Seekers.Add(seeker);
                claim.Partners.Add(best.Visitor.AccountId);
            }
        }

        foreach (var (shard, claim) in claims ?? [])
        {
            ClaimAsync(shard, [.. claim.Seekers], [.. claim.Partners]).Ignore();
        }

        await Task.WhenAll(takes);
        return opened is null ? [] : [.. opened];
    }

    public Task<bool> Holds(ulong seekerId, ulong partnerId) => Task.FromResult(_pairs.Contains(Pair(seekerId, partnerId)));

    public Task<HeldPair[]> PairsOf(ulong[] accountIds)
    {
        var asked = new HashSet<ulong>(accountIds);
        var held = new List<HeldPair>();
        foreach (var pair in _pairs.All)
        {
            // Not a visitor of this shard's handed out to one of theirs: that pair is the asking shard's to make.
            if (asked.Contains(pair.First) && !HandedOutTo(pair.Second, pair.First))
            {
                held.Add(new HeldPair(pair.First, pair.Second));
            }
            else if (asked.Contains(pair.Second) && !HandedOutTo(pair.First, pair.Second))
            {
                held.Add(new HeldPair(pair.Second, pair.First));
            }
        }

        return Task.FromResult(held.ToArray());
    }

    public Task Avoid(Avoidance avoidance)
    {
        if (avoidance.AccountsUntilUnixMs > 0)
        {
            _avoid.AvoidAccounts(avoidance.First, avoidance.Second, avoidance.AccountsUntilUnixMs);
        }

        if (avoidance is { FirstAddress: { } a, SecondAddress: { } b, AddressesUntilUnixMs: > 0 })
        {
            _avoid.AvoidAddresses(a, b, avoidance.AddressesUntilUnixMs);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The best partner for a caller in any shard: every other shard is asked at once for its best,
    /// the best of all (most interests shared, then longest waiting; the caller's own shard's on a tie)
    /// is taken, and with nobody anywhere the caller waits here.
    /// </summary>
    private async Task<MatchTicket> MatchAcrossShardsAsync(WaitingVisitor caller, bool callerWaits)
    {
        var asks = new Task<Candidate?>[_others.Length];
        for (var j = 0; j < _others.Length; j++)
        {
            asks[j] = PeekAsync(_others[j], caller);
        }

        var peeks = await Task.WhenAll(asks);
        var now = Now;
        var order = new List<(int Shard, Candidate Candidate)>(peeks.Length);
        for (var j = 0; j < peeks.Length; j++)
        {
            if (peeks[j] is { } candidate)
            {
                order.Add((_others[j], candidate));
            }
        }

        order.Sort(static (a, b) => a.Candidate.Shared != b.Candidate.Shared
            ? b.Candidate.Shared.CompareTo(a.Candidate.Shared)
            : a.Candidate.Visitor.SinceUnixMs.CompareTo(b.Candidate.Visitor.SinceUnixMs));

        foreach (var (shard, candidate) in order)
        {
            // The caller's own shard first, when its best is as good (its pool may have changed meanwhile).
            if (!Available(caller, callerWaits))
            {
                return new MatchTicket(ResultCode.NoDataFound); // paired by someone else meanwhile
            }

            if (BestHere(caller, now) is { } here && (here.Shared > candidate.Shared || (here.Shared == candidate.Shared && here.Partner.SinceUnixMs <= candidate.Visitor.SinceUnixMs)))
            {
                return await PairHereAsync(caller, here, callerWaits);
            }

            if (await TakeExactlyFromAsync(shard, caller, candidate.Visitor.AccountId) is not { } partner)
            {
                continue; // taken meanwhile, or its shard did not answer
            }

            if (!Available(caller, callerWaits) || _pairs.Contains(Pair(caller.AccountId, partner.AccountId)))
            {
                GiveBack(shard, caller.AccountId, partner); // it got a partner (or a place) some other way meanwhile
                return new MatchTicket(ResultCode.NoDataFound);
            }

            if (callerWaits)
            {
                _pool.Remove(caller.AccountId);
            }

            return await PairAsync(caller, partner, Interests.Shared(caller.Interests, partner.Interests), callerWaits, partnerShard: shard);
        }

        if (Available(caller, callerWaits) && BestHere(caller, Now) is { } last)
        {
            return await PairHereAsync(caller, last, callerWaits);
        }

        return callerWaits ? new MatchTicket(ResultCode.NoDataFound) : await WaitAsync(caller);
    }

    /// <summary>Still free to be paired after an await: under its cap, and waiting (or not yet waiting) as it was.</summary>
    private bool Available(WaitingVisitor caller, bool callerWaits) =>
        _pairs.SessionsOf(caller.AccountId) < _maxSessions && _pool.Contains(caller.AccountId) == callerWaits;

    private (WaitingVisitor Partner, int Shared)? BestHere(WaitingVisitor caller, long now) => _pool.FindFor(caller, now, this);

    private Task<MatchTicket> PairHereAsync(WaitingVisitor caller, (WaitingVisitor Partner, int Shared) here, bool callerWaits)
    {
        if (callerWaits)
        {
            _pool.Remove(caller.AccountId);
        }

        _pool.Remove(here.Partner.AccountId);
        return PairAsync(caller, here.Partner, here.Shared, callerWaits, partnerShard: _shard);
    }

    private async Task<Candidate?> PeekAsync(int shard, WaitingVisitor seeker)
    {
        try
        {
            await OutOfTurnAsync();
            return await grains.Matchmaker(shard).Peek(seeker).WaitAsync(ShardCallTimeout);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex);
            return null;
        }
    }

    private async Task<Candidate?[]?> PeekEachAsync(int shard, WaitingVisitor[] seekers)
    {
        try
        {
            await OutOfTurnAsync();
            return await grains.Matchmaker(shard).PeekEach(seekers).WaitAsync(ShardCallTimeout);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex);
            return null;
        }
    }

    /// <summary>Another shard's <paramref name="candidateId"/>, handed out for <paramref name="seeker"/> (null: gone, no longer fitting, or no answer in time; a late answer is given back).</summary>
    private async Task<WaitingVisitor?> TakeExactlyFromAsync(int shard, WaitingVisitor seeker, ulong candidateId)
    {
        await OutOfTurnAsync();
        var take = grains.Matchmaker(shard).TakeExactly(seeker, candidateId);
        try
        {
            return await take.WaitAsync(ShardCallTimeout);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex);
            if (ex is TimeoutException)
            {
                GiveBackWhenAnsweredAsync(shard, seeker.AccountId, take).Ignore(); // a late answer is never paired here
            }

            return null;
        }
    }

    private async Task ClaimAsync(int shard, WaitingVisitor[] seekers, ulong[] partnerIds)
    {
        try
        {
            await OutOfTurnAsync();
            await grains.Matchmaker(shard).Claim(seekers, partnerIds); // one way: this sweep does not wait for the pairs
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex); // they are searched for again on the next sweep
        }
    }

    /// <summary>
    /// Visitors handed out to another shard's seeker long ago that it neither paired nor gave back: its
    /// silo died between the two, or it stopped waiting for the answer that handed them out (it waits
    /// <see cref="ShardCallTimeout"/> at most, then never pairs them). Once the seeker's shard says it
    /// holds no such pair (its new activation knows the pairs the store has), they wait here again, in
    /// their place. Ages are in real time, as the call timeout that makes this safe is.
    /// </summary>
    private async Task ReclaimAsync()
    {
        List<HandedOut>? stale = null;
        var tick = Environment.TickCount64;
        foreach (var handedOut in _handedOut.Values)
        {
            if (!handedOut.Paired && tick - handedOut.AtTick > ReclaimAfter.TotalMilliseconds)
            {
                (stale ??= []).Add(handedOut);
            }
        }

        foreach (var handedOut in stale ?? [])
        {
            var visitorId = handedOut.Visitor.AccountId;
            bool held;
            try
            {
                await OutOfTurnAsync();
                held = await grains.MatchmakerOf(handedOut.SeekerId).Holds(handedOut.SeekerId, visitorId).WaitAsync(ShardCallTimeout);
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException)
            {
                Log.ShardUnreachable(logger, _shard, MatchShards.Of(handedOut.SeekerId, _matching.Shards), ex);
                continue; // asked again on the next sweep
            }

            if (held)
            {
                handedOut.Paired = true; // a chat: PairEnded forgets it
            }
            else if (_handedOut.TryGetValue(visitorId, out var still) && still == handedOut)
            {
                _handedOut.Remove(visitorId);
                _pairs.Remove(Pair(handedOut.SeekerId, visitorId));
                if (!handedOut.Left && !_pool.Contains(visitorId))
                {
                    Log.Reclaimed(logger, _shard, visitorId);
                    _pool.Add(handedOut.Visitor, Now);
                }
            }
        }
    }

    /// <summary>Whether this shard handed out its <paramref name="visitorId"/> to <paramref name="seekerId"/>'s shard: their pair is that shard's to make.</summary>
    private bool HandedOutTo(ulong visitorId, ulong seekerId) =>
        _handedOut.TryGetValue(visitorId, out var handedOut) && handedOut.SeekerId == seekerId;

    /// <summary>A visitor of this shard given to another shard's seeker: out of the pool, counted as the seeker's partner until paired or given back.</summary>
    private void HandOut(ulong seekerId, WaitingVisitor partner, long now)
    {
        _pool.Remove(partner.AccountId);
        Release(partner.AccountId);
        _pairs.Add(Pair(seekerId, partner.AccountId));
        _handedOut[partner.AccountId] = new HandedOut(seekerId, partner, Environment.TickCount64);
        CountMatch(partner.AccountId, now);
    }

    /// <summary>A repeated request of a waiting visitor: a changed wish takes effect (its place and clock kept), and it may fit someone now.</summary>
    private async Task<MatchTicket> MatchWaitingAsync(WaitingVisitor waiting, MatchCall call, long now)
    {
        if (!waiting.Interests.AsSpan().SequenceEqual(call.Interests) || waiting.Lang != call.Lang || waiting.Fallback != call.Fallback)
        {
            _pool.Remove(waiting.AccountId);
            waiting = waiting with { Interests = call.Interests, Lang = call.Lang, Fallback = call.Fallback, Searched = false }; // a new wish is searched for anew
            _pool.Add(waiting, now);
        }

        var local = _pool.FindFor(waiting, now, this);
        if (local is { } found && (_matching.Shards == 1 || waiting.Interests.Length == 0 || found.Shared == waiting.Interests.Length))
        {
            return await PairHereAsync(waiting, found, callerWaits: true);
        }

        if (_matching.Shards == 1)
        {
            return new MatchTicket(ResultCode.NoDataFound);
        }

        return await MatchAcrossShardsAsync(waiting, callerWaits: true);
    }

    private async Task<MatchTicket> WaitAsync(WaitingVisitor caller)
    {
        if (caller.Address is { } address && rules.For(address).Waiting is > 0 and var limit)
        {
            if (!await HoldWaitingAsync(address, caller.AccountId, limit))
            {
                return new MatchTicket(ResultCode.RateLimited, RetryAfter: WaitingRetryAfterSeconds, Refused: Refusal.Waiting, Limit: limit);
            }
        }

        if (_pool.Contains(caller.AccountId) || _pairs.SessionsOf(caller.AccountId) >= _maxSessions)
        {
            return new MatchTicket(ResultCode.NoDataFound);
        }

        _handedOut.Remove(caller.AccountId); // paired by another shard before, and back
        _pool.Add(caller, Now);
        _adding.Add(caller.AccountId);
        try
        {
            await writer.WriteAsync(new StoreWrite.WaitingAdded(caller.AccountId, caller.SinceUnixMs, caller.Profile()));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex);
            _pool.Remove(caller.AccountId);
            Release(caller.AccountId);
            return new MatchTicket(ResultCode.InternalErr);
        }
        finally
        {
            _adding.Remove(caller.AccountId);
        }

        return new MatchTicket(ResultCode.NoDataFound);
    }

    /// <summary>
    /// Pairs a caller (out of the pool) with <paramref name="partner"/> (out of its shard's pool, and
    /// counted there when that is another shard) and creates their session; the caller hears it in
    /// its MATCH_RESP, the partner from the session (NewSession).
    /// </summary>
    private async Task<MatchTicket> PairAsync(WaitingVisitor caller, WaitingVisitor partner, int shared, bool callerWasWaiting, int partnerShard)
    {
        var now = Now;
        var pair = Pair(caller.AccountId, partner.AccountId);
        _pairs.Add(pair);
        CountMatch(caller.AccountId, now);
        if (partnerShard == _shard)
        {
            CountMatch(partner.AccountId, now);
        }

        WriteOutcome outcome;
        ulong sessionId;
        try
        {
            sessionId = await ids.NextAsync(IdKind.Session);
            // One write: the session and its visitors out of the waiting pool, together (a rebuilt shard reads both or neither).
            ulong[] claims = callerWasWaiting ? [partner.AccountId, caller.AccountId] : [partner.AccountId];
            outcome = await writer.DecideAsync(new StoreWrite.NewSession(new SessionRecord(sessionId, partner.AccountId, caller.AccountId, now), claims, _maxSessions));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex);
            _pairs.Remove(pair);
            PutBack(partner, partnerShard, caller.AccountId);
            if (callerWasWaiting)
            {
                _pool.Add(caller, Now);
            }

            return new MatchTicket(ResultCode.InternalErr);
        }

        if (outcome.Result != WriteResult.Stored)
        {
            // Another pairing took one of them first (a stale copy of a shard, on a silo declared dead
            // that has not stopped yet), or the visitor left: the other waits on.
            _pairs.Remove(pair);
            Log.PairingRefused(logger, _shard, caller.AccountId, partner.AccountId, outcome.AccountId);
            if (outcome.AccountId == caller.AccountId)
            {
                Release(caller.AccountId);
                PutBack(partner, partnerShard, caller.AccountId);
                return new MatchTicket(ResultCode.NoDataFound);
            }

            if (partnerShard == _shard)
            {
                Release(partner.AccountId);
            }

            if (callerWasWaiting)
            {
                _pool.Add(caller, Now);
                return new MatchTicket(ResultCode.NoDataFound);
            }

            return await WaitAsync(caller);
        }

        Matched(caller, partner, shared, partnerShard, now);
        var ticket = new MatchTicket(ResultCode.Success, sessionId, partner.AccountId, PartnerAddress: partner.Address, CommonInterests: Interests.Common(caller.Interests, partner.Interests));
        Keep(caller.AccountId, ticket, unheard: false); // should its answer be lost on the way
        return ticket;
    }

    /// <summary>A pair this shard made on its own (a sweep): the session tells both (NewSession).</summary>
    private async Task PairBothAsync(WaitingVisitor seeker, WaitingVisitor partner, int partnerShard, long now)
    {
        var pair = Pair(seeker.AccountId, partner.AccountId);
        _pairs.Add(pair);
        CountMatch(seeker.AccountId, now);
        if (partnerShard == _shard)
        {
            CountMatch(partner.AccountId, now);
        }

        var (first, second) = seeker.SinceUnixMs <= partner.SinceUnixMs ? (seeker, partner) : (partner, seeker);
        ulong sessionId;
        WriteOutcome outcome;
        try
        {
            sessionId = await ids.NextAsync(IdKind.Session);
            outcome = await writer.DecideAsync(new StoreWrite.NewSession(new SessionRecord(sessionId, first.AccountId, second.AccountId, Now), [seeker.AccountId, partner.AccountId], _maxSessions));
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex);
            _pairs.Remove(pair);
            PutBack(partner, partnerShard, seeker.AccountId);
            _pool.Add(seeker, Now);
            return;
        }

        if (outcome.Result != WriteResult.Stored)
        {
            // Taken by another pairing first, or gone: the other waits on, in its place.
            _pairs.Remove(pair);
            Log.PairingRefused(logger, _shard, seeker.AccountId, partner.AccountId, outcome.AccountId);
            if (outcome.AccountId != partner.AccountId)
            {
                PutBack(partner, partnerShard, seeker.AccountId);
            }
            else if (partnerShard == _shard)
            {
                Release(partner.AccountId);
            }

            if (outcome.AccountId != seeker.AccountId)
            {
                _pool.Add(seeker, Now);
            }
            else
            {
                Release(seeker.AccountId);
            }

            return;
        }

        var shared = Interests.Shared(seeker.Interests, partner.Interests);
        Matched(first, second, shared, partnerShard, now);
        metrics.SessionStarted();
        try
        {
            await grains.Session(sessionId).OpenBoth(seeker.AccountId, seeker.Address, partner.Address, Interests.Common(seeker.Interests, partner.Interests));
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.OpenFailed(logger, sessionId, ex); // the session exists: both find it on their next reconnect
        }
    }

    private void Matched(WaitingVisitor caller, WaitingVisitor partner, int shared, int partnerShard, long now)
    {
        if (partnerShard == _shard)
        {
            Release(partner.AccountId);
        }

        Release(caller.AccountId);
        var waited = now - Math.Min(caller.SinceUnixMs, partner.SinceUnixMs);
        metrics.Matched(MatchKind.Of(caller, partner, shared), TimeSpan.FromMilliseconds(waited));
    }

    private void PutBack(WaitingVisitor partner, int partnerShard, ulong seekerId)
    {
        if (partnerShard == _shard)
        {
            _pool.Add(partner, Now); // it keeps its place (its since); its waiting row is still there
        }
        else
        {
            GiveBack(partnerShard, seekerId, partner);
        }
    }

    /// <summary>Another shard's visitors for these seekers (null: it did not answer in time; whatever it hands out later goes back to it).</summary>
    private async Task<WaitingVisitor?[]?> TakeFromAsync(int shard, WaitingVisitor[] seekers)
    {
        await OutOfTurnAsync();
        var take = grains.Matchmaker(shard).Take(seekers);
        try
        {
            return await take.WaitAsync(ShardCallTimeout);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex);
            if (ex is TimeoutException)
            {
                GiveBackWhenAnsweredAsync(shard, seekers, take).Ignore();
            }

            return null; // the visitors there wait for the shard's rebuild; these wait here
        }
    }

    private async Task GiveBackWhenAnsweredAsync(int shard, WaitingVisitor[] seekers, Task<WaitingVisitor?[]> take)
    {
        try
        {
            var taken = await take;
            for (var i = 0; i < seekers.Length; i++)
            {
                if (taken[i] is { } partner)
                {
                    GiveBack(shard, seekers[i].AccountId, partner);
                }
            }
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex); // nothing was handed out, or its shard died with it (the store has them waiting)
        }
    }

    private async Task GiveBackWhenAnsweredAsync(int shard, ulong seekerId, Task<WaitingVisitor?> take)
    {
        try
        {
            if (await take is { } partner)
            {
                GiveBack(shard, seekerId, partner);
            }
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            Log.ShardUnreachable(logger, _shard, shard, ex); // nothing was handed out, or its shard died with it (the store has it waiting)
        }
    }

    private void GiveBack(int shard, ulong seekerId, WaitingVisitor partner) => GiveBackAsync(shard, seekerId, partner).Ignore();

    private async Task GiveBackAsync(int shard, ulong seekerId, WaitingVisitor partner)
    {
        await OutOfTurnAsync();
        await grains.Matchmaker(shard).GiveBack(seekerId, partner); // lost with its shard's node, the store has it waiting still
    }

    /// <summary>
    /// Every call to another shard starts after this: Orleans runs the first, synchronous part of a
    /// request while it holds the activation's lock, and a call to a grain of the same silo takes that
    /// grain's lock right there, so two shards of one silo calling each other from the first part of a
    /// request each waited for the other's lock for good (the 200-visitor cluster test's hang). A
    /// continuation runs on the activation's scheduler, outside that lock.
    /// </summary>
    private static async Task OutOfTurnAsync() => await Task.Yield();

    /// <summary>Whom <paramref name="seeker"/> may be paired with: not itself, not a partner, not a pair to avoid, not someone at the cap.</summary>
    bool IPairRules.MayPair(WaitingVisitor seeker, WaitingVisitor candidate, long nowUnixMs) =>
        !_pairs.Contains(Pair(seeker.AccountId, candidate.AccountId))
        && _pairs.SessionsOf(candidate.AccountId) < _maxSessions
        && !_avoid.Forbids(seeker, candidate, nowUnixMs);

    private async Task<bool> HoldWaitingAsync(string address, ulong accountId, long limit)
    {
        try
        {
            var held = await GrainFactory.GetGrain<IAddressShardGrain>(Admissions.ShardOf(address)).HoldWaiting(address, accountId, limit);
            if (held)
            {
                _holding[accountId] = address;
            }

            return held;
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            metrics.Unchecked(Refusal.Waiting);
            Log.WaitingUnchecked(logger, ex);
            return true; // fail open, loudly
        }
    }

    private void Release(ulong accountId)
    {
        if (_holding.Remove(accountId, out var address))
        {
            GrainFactory.GetGrain<IAddressShardGrain>(Admissions.ShardOf(address)).ReleaseWaiting(address, accountId).Ignore();
        }
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

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A visitor handed to another shard's seeker (<see cref="HandOut"/>), when (<see cref="Environment.TickCount64"/>), and what became of it.</summary>
    private sealed class HandedOut(ulong seekerId, WaitingVisitor visitor, long atTick)
    {
        public ulong SeekerId { get; } = seekerId;

        public WaitingVisitor Visitor { get; } = visitor;

        public long AtTick { get; } = atTick;

        /// <summary>Its socket is gone: given back, it does not wait again.</summary>
        public bool Left { get; set; }

        /// <summary>Its seeker's shard said it paired them.</summary>
        public bool Paired { get; set; }
    }

    private bool IsMine(ulong accountId) => MatchShards.Of(accountId, _matching.Shards) == _shard;

    private static ActivePair Pair(ulong a, ulong b) => a < b ? new ActivePair(a, b) : new ActivePair(b, a);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Matchmaker shard {Shard} ready: {Waiting} waiting, {Pairs} pairs talking.")]
        public static partial void Loaded(ILogger logger, int shard, int waiting, int pairs);

        [LoggerMessage(2, LogLevel.Error, "Matchmaker: a store write failed.")]
        public static partial void StoreFailed(ILogger logger, Exception exception);

        [LoggerMessage(3, LogLevel.Warning, "Matchmaker shard {Shard}: shard {Other} did not answer; its visitors wait for its rebuild.")]
        public static partial void ShardUnreachable(ILogger logger, int shard, int other, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "Matchmaker: session {SessionId} was made but could not tell its members; they find it when they reconnect.")]
        public static partial void OpenFailed(ILogger logger, ulong sessionId, Exception exception);

        [LoggerMessage(5, LogLevel.Warning, "Matchmaker: the count of visitors waiting per address could not be checked; the visitor waits unchecked.")]
        public static partial void WaitingUnchecked(ILogger logger, Exception exception);

        [LoggerMessage(8, LogLevel.Warning, "Matchmaker shard {Shard}: the store refused to pair {First} with {Second} (account {Taken} was no longer waiting, or in as many chats as it may be): another pairing took it first.")]
        public static partial void PairingRefused(ILogger logger, int shard, ulong first, ulong second, ulong taken);

        [LoggerMessage(6, LogLevel.Warning, "Matchmaker shard {Shard}: account {AccountId}, handed to another shard that neither paired it nor gave it back, waits here again.")]
        public static partial void Reclaimed(ILogger logger, int shard, ulong accountId);

        [LoggerMessage(7, LogLevel.Information, "Matchmaker shard {Shard} rebuilt: account {AccountId}, waiting in the store, is being paired by another shard; it waits here only if that shard gives it up.")]
        public static partial void Adopted(ILogger logger, int shard, ulong accountId);
    }
}
