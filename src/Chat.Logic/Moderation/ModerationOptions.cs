using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Logic.Moderation;

/// <summary>Reports, bans and what follows from them (<c>Chat:Moderation</c>).</summary>
internal sealed class ModerationOptions : IValidatableObject
{
    public const string Section = "Chat:Moderation";

    /// <summary>The reasons a report may give.</summary>
    public static readonly IReadOnlySet<string> Reasons = new HashSet<string>(StringComparer.Ordinal) { "spam", "harassment", "sexual", "minor", "other" };

    /// <summary>The longest note a report may carry, in characters.</summary>
    public const int MaxNoteLength = 500;

    /// <summary>How long after a session ended it may still be reported (people report once the partner has gone).</summary>
    public TimeSpan ReportableFor { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the two addresses of a reported session are not matched with each other (the two accounts never are).</summary>
    public TimeSpan AvoidAddressesFor { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an address that was reported must solve the bot challenge for each new partner.</summary>
    public TimeSpan ChallengeReportedFor { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many of the session's last messages a report keeps as evidence.</summary>
    [Range(0, 1000)]
    public int EvidenceMessages { get; set; } = 20;

    /// <summary>How long reports, the audit log and ended bans are kept; zero keeps them for ever.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Keep the two addresses of a report as salted hashes (true), or plain (false).</summary>
    public bool HashAddresses { get; set; } = true;

    /// <summary>The salt of those hashes. Unset: derived from the bot challenge's key (every logic node of a cluster has the same).</summary>
    public string? AddressSalt { get; set; }

    /// <summary>Reports against one address from this many different reporters within <see cref="AutoBanWindow"/> ban it for <see cref="AutoBanFor"/>; 0: never.</summary>
    [Range(0, 1_000_000)]
    public int AutoBanReports { get; set; } = 3;

    public TimeSpan AutoBanWindow { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan AutoBanFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often a logic node reads the bans afresh for the brokers that ask (a ban is in force on every broker within this and the brokers' own interval).</summary>
    public TimeSpan BanRefresh { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Where each new report and each operator action is posted (JSON, signed); unset: nowhere.</summary>
    public Uri? WebhookUrl { get; set; }

    /// <summary>The HMAC-SHA256 key of the webhook's <c>X-Chat-Signature</c> header (required with <see cref="WebhookUrl"/>).</summary>
    public string? WebhookSecret { get; set; }

    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var refusal in Durations.MustBePositive(
            Section,
            (nameof(ReportableFor), ReportableFor),
            (nameof(AvoidAddressesFor), AvoidAddressesFor),
            (nameof(ChallengeReportedFor), ChallengeReportedFor),
            (nameof(AutoBanWindow), AutoBanWindow),
            (nameof(BanRefresh), BanRefresh)).Concat(Durations.MustBeTimeouts(Section, (nameof(WebhookTimeout), WebhookTimeout))))
        {
            yield return refusal;
        }

        if (AutoBanFor <= TimeSpan.Zero)
        {
            yield return new ValidationResult($"{Section}:AutoBanFor must be positive.", [nameof(AutoBanFor)]);
        }

        if (Retention < TimeSpan.Zero)
        {
            yield return new ValidationResult($"{Section}:Retention must be zero (keep everything) or positive.", [nameof(Retention)]);
        }

        if (WebhookUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"{Section}:WebhookUrl must be an absolute http(s) URL.", [nameof(WebhookUrl)]);
        }

        if (WebhookUrl is not null && string.IsNullOrEmpty(WebhookSecret))
        {
            yield return new ValidationResult($"{Section}:WebhookSecret is required with {Section}:WebhookUrl (the receiver checks the X-Chat-Signature header with it).", [nameof(WebhookSecret)]);
        }
    }
}
