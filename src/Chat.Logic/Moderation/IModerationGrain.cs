using Chat.Protocol.Seams;

namespace Chat.Logic.Moderation;

/// <summary>
/// The cluster's one book of bans (key 0), rebuilt from the store on activation: every ban made,
/// lifted or run out is known here first, and every logic node reads it from here
/// (<see cref="ModerationDesk"/>). It also counts the reports against each address (the auto-ban)
/// and remembers the addresses reported lately, which must solve the bot challenge to be matched;
/// those two are kept in memory only (a new activation starts them afresh).
/// </summary>
internal interface IModerationGrain : IGrainWithIntegerKey
{
    Task<ModerationState> Read();

    /// <summary>Bans <paramref name="value"/> for <paramref name="duration"/>, keeps the ban and the audit entry, posts both to the webhook.</summary>
    Task<BanRecord> Ban(BanTarget target, string value, TimeSpan duration, string reason, string actor);

    /// <summary>Lifts a ban in force; false if there is none with that id.</summary>
    Task<bool> Unban(string id, string actor, string why);

    /// <summary>
    /// <paramref name="reporterId"/> reported the visitor at <paramref name="address"/>: the address
    /// must solve the challenge for a while, and with enough different reporters lately it is banned
    /// (the ban is returned).
    /// </summary>
    Task<BanRecord?> Reported(string address, ulong reporterId, string reason);

    /// <summary>A node's refusals since its last tally, by kind (<see cref="Refusals"/> sums the last hour's of every node).</summary>
    Task Tally(Dictionary<string, long> refusals);

    /// <summary>The refusals of the whole cluster in the last hour, by kind.</summary>
    Task<Dictionary<string, long>> Refusals();
}

/// <param name="Version">Changes whenever <see cref="Bans"/> does.</param>
/// <param name="Challenged">Addresses reported lately: they solve the bot challenge to be matched.</param>
[GenerateSerializer, Immutable]
internal sealed record ModerationState([property: Id(0)] long Version, [property: Id(1)] IReadOnlyList<BanRecord> Bans, [property: Id(2)] IReadOnlyList<string> Challenged)
{
    public static ModerationState Empty { get; } = new(0, [], []);
}
