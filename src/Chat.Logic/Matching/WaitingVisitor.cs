using System.Text;

namespace Chat.Logic.Matching;

/// <summary>
/// A visitor in the waiting pool and who it would like to meet: its folded interests (sorted,
/// distinct), its language (a primary subtag; null: any), whether it falls back to anyone after the
/// fallback delay, and since when it waits (the fallback clock, kept across repeated MATCH_REQs and
/// a move of its shard, since the store keeps it). <paramref name="Address"/> (null: unknown) for the limit per address, the pairs of addresses kept apart after a report, and a report's record.
/// <paramref name="Searched"/>: with interests and its fallback delay passed, its shard asked every
/// other shard and none had anyone sharing an interest with it, so it is open to anyone now (not
/// stored: a rebuilt shard asks again). It travels with the visitor, so another shard asked for a
/// partner for it knows whether it may fall back.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed record WaitingVisitor(
    [property: Id(0)] ulong AccountId,
    [property: Id(1)] string? Address,
    [property: Id(2)] string[] Interests,
    [property: Id(3)] string? Lang,
    [property: Id(4)] bool Fallback,
    [property: Id(5)] long SinceUnixMs,
    [property: Id(6)] bool Searched = false)
{
    private const char FieldSeparator = '\u001f';
    private const char InterestSeparator = '\u001e';

    /// <summary>Asked for nothing: matched as the seed matches (anyone, first come first served).</summary>
    public bool WantsAnyone => Interests.Length == 0 && Lang is null;

    /// <summary>Who it would like to meet, as the store's waiting row keeps it (null: anyone). Folded interests hold no control characters, so two of them separate the parts.</summary>
    public string? Profile() => WantsAnyone && Fallback
        ? null
        : new StringBuilder().Append(Lang).Append(FieldSeparator).Append(Fallback ? '1' : '0').Append(FieldSeparator).AppendJoin(InterestSeparator, Interests).ToString();

    /// <summary>A visitor read back from the store's waiting row (no address: the store does not keep it).</summary>
    public static WaitingVisitor FromStore(ulong accountId, long sinceUnixMs, string? profile)
    {
        var parts = profile?.Split(FieldSeparator);
        if (parts is not { Length: 3 })
        {
            return new WaitingVisitor(accountId, null, [], null, true, sinceUnixMs);
        }

        return new WaitingVisitor(
            accountId,
            null,
            parts[2].Length == 0 ? [] : parts[2].Split(InterestSeparator),
            parts[0].Length == 0 ? null : parts[0],
            parts[1] != "0",
            sinceUnixMs);
    }
}

/// <summary>What kind of pair a match made, as the metrics count them.</summary>
internal static class MatchKind
{
    /// <summary>They share at least one interest.</summary>
    public const string Interest = "interest";

    /// <summary>They share none (or speak different languages): after the fallback delay.</summary>
    public const string Fallback = "fallback";

    /// <summary>Neither asked for interests, and their languages (if any) agree.</summary>
    public const string Plain = "plain";

    public static string Of(WaitingVisitor a, WaitingVisitor b, int shared) =>
        shared > 0 ? Interest
        : a.Interests.Length > 0 || b.Interests.Length > 0 || (a.Lang is not null && b.Lang is not null && a.Lang != b.Lang) ? Fallback
        : Plain;
}
