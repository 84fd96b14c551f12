using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Broker.Upstream;

/// <summary>How a broker of a cluster calls logic (<c>Chat:Broker:Upstream</c>): timeouts, sit-outs, the start's retries.</summary>
public sealed class UpstreamOptions : IValidatableObject
{
    public const string Section = BrokerOptions.Section + ":Upstream";

    /// <summary>
    /// How long one call to a logic node may take before the next node is tried. A call takes
    /// milliseconds; one that waits on a grain of a dead node fails once Orleans has declared it (seconds).
    /// </summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A visitor's request is answered within about this long: once a call has taken it, no further node is tried and
    /// the client hears code 2 ("try again") instead of waiting through every node's timeout (a broker cut off from logic).
    /// A node that refuses at once (dead) still passes the call on to the next.
    /// </summary>
    public TimeSpan AnswerWithin { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a logic node that failed a call is tried last.</summary>
    public TimeSpan SitOut { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Sessions whose logic node is remembered at the most; beyond, the memory starts again (it only saves hops).</summary>
    [Range(1, 100_000_000)]
    public int MaxRememberedOwners { get; set; } = 200_000;

    /// <summary>The first pause before the broker tells logic of its start again (logic may come up after it).</summary>
    public TimeSpan StartRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The pause doubles after each refusal, up to this.</summary>
    public TimeSpan StartRetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var refusal in Durations.MustBeTimeouts(Section, (nameof(CallTimeout), CallTimeout)).Concat(Durations.MustBePositive(
            Section,
            (nameof(SitOut), SitOut),
            (nameof(AnswerWithin), AnswerWithin),
            (nameof(StartRetryDelay), StartRetryDelay),
            (nameof(StartRetryMaxDelay), StartRetryMaxDelay))))
        {
            yield return refusal;
        }

        if (StartRetryMaxDelay < StartRetryDelay)
        {
            yield return new ValidationResult($"{Section}:{nameof(StartRetryMaxDelay)} must not be shorter than {nameof(StartRetryDelay)}.", [nameof(StartRetryMaxDelay)]);
        }
    }
}
