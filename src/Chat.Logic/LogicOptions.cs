using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Logic;

internal sealed class LogicOptions : IValidatableObject
{
    public const string Section = "Chat:Logic";

    /// <summary>Longest message, in characters (the seed cut at 255).</summary>
    [Range(1, 100_000)]
    public int MaxContentLength { get; set; } = 1000;

    [Range(1, 200)]
    public int MaxNickNameLength { get; set; } = 30;

    /// <summary>At most 64: the stores' request_id column holds 64 characters.</summary>
    [Range(1, 64)]
    public int MaxRequestIdLength { get; set; } = 64;

    /// <summary>How long an account whose socket was lost keeps its sessions. Zero ends them at once, as the seed does.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>At most one typing signal per sender and session in this interval.</summary>
    public TimeSpan TypingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often grace periods that ran out are looked for.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the brokers that hold accounts' sockets are asked whether they are alive (a cluster's brokers).</summary>
    public TimeSpan BrokerCheckInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A broker that has not answered for this long is taken for gone: its accounts are away (their grace periods start) but keep their sockets, for its return.</summary>
    public TimeSpan BrokerDeadAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A broker taken for gone that stays silent this much longer is dead: its accounts' bindings are released and it
    /// is checked no more. Until then it reclaims its accounts if it answers again with the same start (a partition healed).
    /// </summary>
    public TimeSpan BrokerForgetAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a broker's answer to one of those checks is waited for; no answer in time counts as silent.</summary>
    public TimeSpan BrokerCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>An account's reconnects at once (a reload, a flaky network); past them, <see cref="ReconnectInterval"/> paces it (code 5 with retryAfter).</summary>
    [Range(1, 1_000_000)]
    public int ReconnectBurst { get; set; } = 10;

    /// <summary>Past the burst, an account may reconnect once per this interval.</summary>
    public TimeSpan ReconnectInterval { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>
    /// Messages of one session a reconnect replays before it waits for the client to have them (its
    /// confirmations, or the socket writes of a client that does not confirm); the rest follows page by page.
    /// </summary>
    [Range(1, 100_000)]
    public int ReplayPage { get; set; } = 50;

    /// <summary>Active sessions an account may be in at once; MATCH_REQ beyond is refused (code 1).</summary>
    [Range(1, 1000)]
    public int MaxActiveSessions { get; set; } = 3;

    /// <summary>Accounts whose grace period ran out handled per sweep: a backlog (after downtime) drains over a few sweeps instead of one long one.</summary>
    [Range(1, 1_000_000)]
    public int SweepLimit { get; set; } = 1000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (GracePeriod < TimeSpan.Zero)
        {
            yield return new ValidationResult("GracePeriod must not be negative.", [nameof(GracePeriod)]);
        }

        if (TypingInterval < TimeSpan.Zero)
        {
            yield return new ValidationResult("TypingInterval must not be negative.", [nameof(TypingInterval)]);
        }

        // Each drives a timer or a deadline: zero or less would spin or fire at once.
        foreach (var refusal in Durations.MustBePositive(Section, (nameof(BrokerCheckInterval), BrokerCheckInterval), (nameof(BrokerDeadAfter), BrokerDeadAfter), (nameof(BrokerForgetAfter), BrokerForgetAfter), (nameof(SweepInterval), SweepInterval), (nameof(ReconnectInterval), ReconnectInterval))
            .Concat(Durations.MustBeTimeouts(Section, (nameof(BrokerCheckTimeout), BrokerCheckTimeout))))
        {
            yield return refusal;
        }
    }
}
