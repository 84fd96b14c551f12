using Chat.Protocol.Frames;
using Orleans.Concurrency;

namespace Chat.Logic.Matching;

/// <summary>
/// The one matchmaker of the cluster (key 0): the waiting pool and the pairs that are talking.
/// Rebuilt from the store on activation, so visitors waiting when its node dies still get a partner.
/// It calls no other grain, so no call into it can be part of a cycle.
/// </summary>
internal interface IMatchmakerGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Pairs the caller with whoever has waited longest (never itself, never a current partner)
    /// and creates their session; with nobody to pair, the caller waits (NoDataFound). Refused
    /// (RateLimited) when the caller has made its matches of the minute, or would wait while its
    /// <paramref name="address"/> has as many waiting as it may; ChallengeRequired when it has had
    /// new partners faster than a person would and <paramref name="solved"/> a challenge it has not.
    /// </summary>
    /// <paramref name="reported"/>: the caller's address was reported lately, so it must have <paramref name="solved"/> a challenge to be matched or wait.
    Task<MatchTicket> Match(ulong callerId, string? address, bool solved, bool reported);

    /// <summary>The two accounts are not matched with each other for <paramref name="accountsFor"/>, nor the two addresses for <paramref name="addressesFor"/> (a report).</summary>
    Task Avoid(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accountsFor, TimeSpan addressesFor);

    /// <summary>The account is no longer waiting (its socket is gone).</summary>
    Task Leave(ulong accountId);

    /// <summary>Drops from the pool whoever the store no longer has waiting (their broker was declared gone).</summary>
    Task Prune();

    /// <summary>The two accounts' session ended: they may be matched again.</summary>
    [OneWay]
    Task PairEnded(ulong first, ulong second);
}

/// <param name="RetryAfter">With RateLimited: seconds until the caller may try again.</param>
/// <param name="PartnerAddress">With Success: the partner's address, as its MATCH_REQ gave it (null: unknown).</param>
/// <param name="Limit">With RateLimited: which limit (a <see cref="Abuse.Refusal"/> kind) and its value.</param>
[GenerateSerializer, Immutable]
internal readonly record struct MatchTicket(
    [property: Id(0)] ResultCode Code,
    [property: Id(1)] ulong SessionId = 0,
    [property: Id(2)] ulong PartnerId = 0,
    [property: Id(3)] int RetryAfter = 0,
    [property: Id(4)] string? Refused = null,
    [property: Id(5)] long Limit = 0,
    [property: Id(6)] string? PartnerAddress = null);
