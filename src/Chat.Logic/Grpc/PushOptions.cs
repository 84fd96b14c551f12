using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Logic.Grpc;

/// <summary>How a logic node of a cluster pushes to brokers (<c>Chat:Logic:Push</c>): batches, the queue per broker, retries.</summary>
internal sealed class PushOptions : IValidatableObject
{
    public const string Section = LogicOptions.Section + ":Push";

    /// <summary>Live pushes sent to one broker in one call at the most.</summary>
    [Range(1, 100_000)]
    public int MaxBatch { get; set; } = 512;

    /// <summary>Pushes waiting for a broker that does not answer, at the most; beyond, new ones are dropped (they wait in the store).</summary>
    [Range(1, 100_000_000)]
    public int MaxWaiting { get; set; } = 100_000;

    /// <summary>How long a batch is tried again before it is given up (a broker gone this long is declared dead anyway); they wait in the store for the clients' reconnects.</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first pause before a failed push is tried again; it doubles after each failure.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest pause between two tries of a push.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A link to a broker (its channel and queue) that carried nothing this long is closed: brokers that are gone leave nothing behind. The next push opens a new one.</summary>
    public TimeSpan IdleLinkTimeout { get; set; } = TimeSpan.FromMinutes(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var refusal in Durations.MustBeTimeouts(Section, (nameof(GiveUpAfter), GiveUpAfter))
            .Concat(Durations.MustBePositive(Section, (nameof(RetryDelay), RetryDelay), (nameof(RetryMaxDelay), RetryMaxDelay), (nameof(IdleLinkTimeout), IdleLinkTimeout))))
        {
            yield return refusal;
        }

        if (RetryMaxDelay < RetryDelay)
        {
            yield return new ValidationResult($"{Section}:{nameof(RetryMaxDelay)} must not be shorter than {nameof(RetryDelay)}.", [nameof(RetryMaxDelay)]);
        }
    }
}
