namespace Chat.Logic.Matching;

/// <summary>
/// The one seam through which moderation tells matching who must not meet again: after a report,
/// the two accounts (for <c>accountsFor</c>) and the two addresses (for <c>addressesFor</c>).
/// Today the matchmaker keeps a bounded, expiring set of such pairs (<see cref="AvoidedPairs"/>).
/// </summary>
internal interface IPartnerAvoidance
{
    Task AvoidAsync(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accountsFor, TimeSpan addressesFor);
}

/// <summary>Avoidance kept by the cluster's one matchmaker, which checks it where it picks a partner.</summary>
internal sealed class MatchmakerAvoidance(ChatGrains grains) : IPartnerAvoidance
{
    public Task AvoidAsync(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accountsFor, TimeSpan addressesFor) =>
        grains.Matchmaker.Avoid(a, b, addressA, addressB, accountsFor, addressesFor);
}
