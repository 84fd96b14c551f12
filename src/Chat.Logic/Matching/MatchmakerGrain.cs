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
/// before it exists, so two matches at once cannot both slip under it.
/// </summary>
[Reentrant]
internal sealed partial class MatchmakerGrain(
    IChatStore store,
    StoreWriter writer,
    IdAllocator ids,
    IOptions<LogicOptions> options,
    TimeProvider time,
    ILogger<MatchmakerGrain> logger) : Grain, IMatchmakerGrain
{
    private readonly int _maxSessions = options.Value.MaxActiveSessions;
    private readonly WaitingPool _pool = new();
    private readonly ActivePairs _pairs = new();

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

    public async Task<MatchTicket> Match(ulong callerId)
    {
        if (_pool.Contains(callerId))
        {
            return new MatchTicket(ResultCode.NoDataFound); // keeps its place
        }

        if (_pairs.SessionsOf(callerId) >= _maxSessions)
        {
            return new MatchTicket(ResultCode.ParamErr); // no further session, nor a place in the pool
        }

        if (_pool.FindOldest(candidate => candidate != callerId && !_pairs.Contains(Pair(callerId, candidate)) && _pairs.SessionsOf(candidate) < _maxSessions) is not { } partnerId)
        {
            _pool.Add(callerId);
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

        _pool.Remove(partnerId);
        var pair = Pair(callerId, partnerId);
        _pairs.Add(pair);
        try
        {
            var sessionId = await ids.NextAsync(IdKind.Session);
            var left = writer.WriteAsync(new StoreWrite.WaitingRemoved(partnerId));
            var created = writer.WriteAsync(new StoreWrite.NewSession(new SessionRecord(sessionId, partnerId, callerId, time.GetUtcNow().ToUnixTimeMilliseconds())));
            await Task.WhenAll(left, created);
            return new MatchTicket(ResultCode.Success, sessionId, partnerId);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex);
            _pairs.Remove(pair);
            _pool.AddFirst(partnerId); // it waited longest; its waiting row may be gone, the pool in memory still has it
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

    public Task PairEnded(ulong first, ulong second)
    {
        _pairs.Remove(Pair(first, second));
        return Task.CompletedTask;
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
