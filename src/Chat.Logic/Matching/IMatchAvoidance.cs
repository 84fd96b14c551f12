using Microsoft.Extensions.Options;

namespace Chat.Logic.Matching;

/// <summary>Pairs the matchmaker must not make for a while.</summary>
internal interface IMatchAvoidance
{
    /// <summary>
    /// Accounts <paramref name="a"/> and <paramref name="b"/> are not paired with each other for
    /// <paramref name="accounts"/> from now, and no visitor from <paramref name="addressA"/> with one
    /// from <paramref name="addressB"/> for <paramref name="addresses"/> (either address null, or a
    /// zero span: no rule for addresses). Every end of a chat (skip, end, report, leave, a grace period
    /// that ran out) calls it with <see cref="MatchingOptions.RematchAfter"/> for the accounts; a report
    /// may call it with longer spans and the addresses. It holds on every node (it is kept by the
    /// matchmaker shards, which the cluster has one of each), a longer rule is never shortened by a
    /// shorter one, and every rule expires (then it is dropped). Returns once the shards have it queued.
    /// </summary>
    Task Avoid(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accounts, TimeSpan addresses);
}

/// <summary>Sends a rule to the shards that check it: an accounts rule to the two accounts' shards, an addresses rule to every shard (any account may come from them).</summary>
internal sealed class MatchAvoidance(ChatGrains grains, IOptions<MatchingOptions> options, TimeProvider time) : IMatchAvoidance
{
    private readonly int _shards = options.Value.Shards;

    public Task Avoid(ulong a, ulong b, string? addressA, string? addressB, TimeSpan accounts, TimeSpan addresses)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var accountsUntil = accounts > TimeSpan.Zero ? now + (long)accounts.TotalMilliseconds : 0;
        var byAddress = addressA is not null && addressB is not null && addresses > TimeSpan.Zero;
        var rule = new Avoidance(a, b, accountsUntil, byAddress ? addressA : null, byAddress ? addressB : null, byAddress ? now + (long)addresses.TotalMilliseconds : 0);
        if (byAddress)
        {
            return Task.WhenAll(Enumerable.Range(0, _shards).Select(shard => grains.Matchmaker(shard).Avoid(rule)));
        }

        if (accountsUntil == 0)
        {
            return Task.CompletedTask;
        }

        var (first, second) = (MatchShards.Of(a, _shards), MatchShards.Of(b, _shards));
        return first == second
            ? grains.Matchmaker(first).Avoid(rule)
            : Task.WhenAll(grains.Matchmaker(first).Avoid(rule), grains.Matchmaker(second).Avoid(rule));
    }
}
