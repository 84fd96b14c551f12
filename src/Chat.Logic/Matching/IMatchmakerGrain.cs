using Chat.Protocol.Frames;
using Orleans.Concurrency;

namespace Chat.Logic.Matching;

/// <summary>
/// One shard of the cluster's matchmaker (key: its number, 0 to <see cref="MatchingOptions.Shards"/> − 1;
/// an account always waits in <see cref="MatchShards.Of"/> its id): the visitors waiting in it, and the
/// pairs talking that one of its accounts is in. Rebuilt from the store on activation, so visitors
/// waiting when its node dies still get a partner. It calls other shards (work stealing, avoid lists)
/// and, for a pair it makes on its own, the new session; shards are reentrant, so no call cycle can block.
/// </summary>
internal interface IMatchmakerGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Pairs the caller with the visitor of this shard that fits it best (never itself, a current
    /// partner, or a pair that must not meet again yet) and creates their session; with nobody to
    /// pair, the caller waits (NoDataFound) and is offered to the other shards on the next sweep.
    /// Refused (RateLimited) when the caller has made its matches of the minute, or would wait while
    /// its address has as many waiting as it may; ChallengeRequired when it has had new partners
    /// faster than a person would, or its address was reported lately, and it has not solved a challenge.
    /// </summary>
    Task<MatchTicket> Match(MatchCall call);

    /// <summary>
    /// The caller's answer to <paramref name="ticket"/> reached nobody (its broker stopped waiting), or
    /// its session could not be opened: its next request, while the pair lasts and for at most a
    /// minute, is given the same ticket (no second partner for a client that never heard of the first),
    /// as a request whose broker says the last answer was lost (<see cref="MatchCall.AfterLostAnswer"/>) is.
    /// </summary>
    [OneWay]
    Task Unheard(ulong callerId, MatchTicket ticket);

    /// <summary>The account is no longer waiting (its socket is gone).</summary>
    Task Leave(ulong accountId);

    /// <summary>Drops from the pool whoever the store no longer has waiting (their broker was declared gone).</summary>
    Task Prune();

    /// <summary>The two accounts' session ended: it no longer counts against their cap, nor makes them partners.</summary>
    [OneWay]
    Task PairEnded(ulong first, ulong second);

    /// <summary>
    /// Work stealing: for each seeker of another shard, the visitor of this shard that fits it best,
    /// taken out of this pool (and counted as that seeker's partner), or null. The seeker's shard then
    /// pairs them, or gives the visitor back (<see cref="GiveBack"/>) if the seeker was taken meanwhile.
    /// </summary>
    Task<WaitingVisitor?[]> Take(WaitingVisitor[] seekers);

    /// <summary>The visitor of this shard that fits <paramref name="seeker"/> best, and how many interests they share, left in the pool (null: none).</summary>
    Task<Candidate?> Peek(WaitingVisitor seeker);

    /// <summary>
    /// Takes <paramref name="candidateId"/> out of this pool for <paramref name="seeker"/> if it still
    /// waits here, fits it, and may be paired with it (as <see cref="Take"/> does); null otherwise.
    /// </summary>
    Task<WaitingVisitor?> TakeExactly(WaitingVisitor seeker, ulong candidateId);

    /// <summary>
    /// For each seeker of another shard (visitors whose fallback delay passed, not yet searched for),
    /// the visitor of this shard that fits it best, left in the pool (null: none). Read only; with
    /// interests and not yet <see cref="WaitingVisitor.Searched"/>, a seeker fits only who shares one.
    /// </summary>
    Task<Candidate?[]> PeekEach(WaitingVisitor[] seekers);

    /// <summary>
    /// Seekers of a shard after this one and, for each, the visitor of this shard its shard found for
    /// it (<see cref="PeekEach"/>): if that one still waits here and fits, this shard takes the seeker
    /// from its shard (<see cref="TakeExactly"/>) and pairs them. Claims go one way, a shard taking
    /// only from the shards after it, so two sweeps never hand out each other's seekers.
    /// </summary>
    [OneWay]
    Task Claim(WaitingVisitor[] seekers, ulong[] partnerIds);

    /// <summary>A visitor <see cref="Take"/> handed out for <paramref name="seekerId"/> that was not paired after all: it waits again, in its place.</summary>
    Task GiveBack(ulong seekerId, WaitingVisitor visitor);

    /// <summary>Whether this shard paired (or is pairing) <paramref name="seekerId"/> with <paramref name="partnerId"/>, a visitor another shard handed out to it.</summary>
    Task<bool> Holds(ulong seekerId, ulong partnerId);

    /// <summary>
    /// The pairs this shard holds (talking, or being paired by it) that one of these accounts of
    /// another shard is in: a rebuilt shard asks it of its visitors, some of which its previous
    /// activation may have just handed out here. Not a pair of a visitor this shard handed out to
    /// one of those accounts: that pair was the asking shard's to make.
    /// </summary>
    Task<HeldPair[]> PairsOf(ulong[] accountIds);

    /// <summary>Lets visitors whose fallback delay passed fall back, and offers the visitors that wait here to the other shards.</summary>
    Task Sweep();

    /// <summary>Accounts (and addresses) that must not be paired until a moment (<see cref="IMatchAvoidance"/>); in force once it returns.</summary>
    Task Avoid(Avoidance avoidance);
}

/// <summary>A visitor another shard could pair a seeker with, and how many interests they share.</summary>
[GenerateSerializer, Immutable]
internal sealed record Candidate([property: Id(0)] WaitingVisitor Visitor, [property: Id(1)] int Shared);

/// <summary>A pair a shard holds that <paramref name="AccountId"/> is in, with <paramref name="PartnerId"/>.</summary>
[GenerateSerializer, Immutable]
internal sealed record HeldPair([property: Id(0)] ulong AccountId, [property: Id(1)] ulong PartnerId);

/// <param name="Solved">The caller solved a challenge with this request.</param>
/// <param name="Reported">The caller's address was reported lately: it must have solved a challenge to be matched or wait.</param>
/// <param name="AfterLostAnswer">The caller's broker gave up on its last request: a pairing made for that one, still on, is given again.</param>
/// <param name="Interests">Folded, sorted, distinct.</param>
/// <param name="Lang">A primary language subtag; null: any.</param>
[GenerateSerializer, Immutable]
internal sealed record MatchCall(
    [property: Id(0)] ulong CallerId,
    [property: Id(1)] string? Address,
    [property: Id(2)] bool Solved,
    [property: Id(3)] string[] Interests,
    [property: Id(4)] string? Lang,
    [property: Id(5)] bool Fallback,
    [property: Id(6)] bool Reported = false,
    [property: Id(7)] bool AfterLostAnswer = false);

/// <summary>Two accounts that must not meet until <paramref name="AccountsUntilUnixMs"/> (0: no such rule), and two addresses until <paramref name="AddressesUntilUnixMs"/>.</summary>
[GenerateSerializer, Immutable]
internal sealed record Avoidance(
    [property: Id(0)] ulong First,
    [property: Id(1)] ulong Second,
    [property: Id(2)] long AccountsUntilUnixMs,
    [property: Id(3)] string? FirstAddress = null,
    [property: Id(4)] string? SecondAddress = null,
    [property: Id(5)] long AddressesUntilUnixMs = 0);

/// <param name="RetryAfter">With RateLimited: seconds until the caller may try again.</param>
/// <param name="PartnerAddress">With Success: the partner's address, as its MATCH_REQ gave it (null: unknown).</param>
/// <param name="Limit">With RateLimited: which limit (a <see cref="Abuse.Refusal"/> kind) and its value.</param>
/// <param name="CommonInterests">With Success: the interests the two share (folded).</param>
/// <param name="Again">With Success: a pairing made for an earlier request whose answer reached nobody (<see cref="IMatchmakerGrain.Unheard"/>).</param>
[GenerateSerializer, Immutable]
internal readonly record struct MatchTicket(
    [property: Id(0)] ResultCode Code,
    [property: Id(1)] ulong SessionId = 0,
    [property: Id(2)] ulong PartnerId = 0,
    [property: Id(3)] int RetryAfter = 0,
    [property: Id(4)] string? Refused = null,
    [property: Id(5)] long Limit = 0,
    [property: Id(6)] string[]? CommonInterests = null,
    [property: Id(7)] string? PartnerAddress = null,
    [property: Id(8)] bool Again = false);
