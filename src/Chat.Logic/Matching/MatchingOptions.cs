using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Logic.Matching;

/// <summary>How visitors are paired (<c>Chat:Matching</c>).</summary>
internal sealed class MatchingOptions : IValidatableObject
{
    public const string Section = "Chat:Matching";

    /// <summary>
    /// A visitor with interests (or a language) is paired only on a shared interest (in its language)
    /// until it has waited this long; then with anyone who also accepts that, once no shard has anyone
    /// sharing an interest with it (its shard's next sweep asks them all).
    /// </summary>
    public TimeSpan FallbackDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Two accounts whose chat ended are not paired again for this long (on any node).</summary>
    public TimeSpan RematchAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Matchmaker shards of the cluster: an account waits in shard <c>id mod Shards</c>. Every node of a
    /// cluster must have the same number (a different one would put an account in two pools).
    /// </summary>
    [Range(1, 1024)]
    public int Shards { get; set; } = 4;

    /// <summary>How often each shard looks for partners in the other shards and lets waiting visitors fall back.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How many of the longest-waiting visitors per interest (and language) a pairing looks at: the cost of a match stays bounded however large the pool.</summary>
    [Range(1, 10_000)]
    public int CandidatesPerInterest { get; set; } = 64;

    /// <summary>Waiting visitors one shard offers to the others per sweep (the rest on the next sweeps).</summary>
    [Range(1, 100_000)]
    public int OffersPerSweep { get; set; } = 512;

    /// <summary>Interests a MATCH_REQ may carry.</summary>
    [Range(1, 32)]
    public int MaxInterests { get; set; } = 10;

    /// <summary>Characters (runes, after folding) an interest may have.</summary>
    [Range(1, 200)]
    public int MaxInterestLength { get; set; } = 32;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (FallbackDelay < TimeSpan.Zero)
        {
            yield return new ValidationResult("FallbackDelay must not be negative.", [nameof(FallbackDelay)]);
        }

        if (RematchAfter < TimeSpan.Zero)
        {
            yield return new ValidationResult("RematchAfter must not be negative.", [nameof(RematchAfter)]);
        }

        foreach (var refusal in Durations.MustBePositive(Section, (nameof(SweepInterval), SweepInterval)))
        {
            yield return refusal;
        }
    }
}
