using System.ComponentModel.DataAnnotations;
using Chat.Logic.Sessions;
using Chat.Protocol.Settings;

namespace Chat.Logic.Filtering;

/// <summary>What a message must pass before it is stored (<c>Chat:Filter</c>): a word list, the links rule, a webhook.</summary>
internal sealed class FilterOptions : IValidatableObject
{
    public const string Section = "Chat:Filter";

    public WordListOptions Words { get; set; } = new();

    public LinkRuleOptions Links { get; set; } = new();

    public WebhookFilterOptions Webhook { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, part) in new (string, object)[] { (nameof(Words), Words), (nameof(Links), Links), (nameof(Webhook), Webhook) })
        {
            var nested = new List<ValidationResult>();
            Validator.TryValidateObject(part, new ValidationContext(part), nested, validateAllProperties: true);
            foreach (var refusal in nested)
            {
                yield return new ValidationResult($"{Section}:{name}:{string.Join(',', refusal.MemberNames)}: {refusal.ErrorMessage}", [name]);
            }
        }

        if (Words.File is { Length: > 0 } file)
        {
            if (!System.IO.File.Exists(file))
            {
                yield return new ValidationResult($"{Section}:Words:File: '{file}' does not exist.", [nameof(Words)]);
            }
            else if (WordList.TryRead(file, out _) is { } problem)
            {
                yield return new ValidationResult($"{Section}:Words:File: {problem}", [nameof(Words)]);
            }
        }

        if (Webhook.Url is { Length: > 0 } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                yield return new ValidationResult($"{Section}:Webhook:Url: '{url}' is not an http:// or https:// URL.", [nameof(Webhook)]);
            }

            if (Webhook.ResolveSecret() is not { Length: >= WebhookFilterOptions.ShortestSecret })
            {
                yield return new ValidationResult(
                    $"{Section}:Webhook:Secret (or SecretFile): the webhook's requests are signed; give it a secret of at least {WebhookFilterOptions.ShortestSecret} characters.",
                    [nameof(Webhook)]);
            }

            if (Webhook.OnFailure is not ("allow" or "refuse"))
            {
                yield return new ValidationResult($"{Section}:Webhook:OnFailure must be allow (fail open) or refuse (fail closed), not '{Webhook.OnFailure}'.", [nameof(Webhook)]);
            }

            foreach (var refusal in Durations.MustBeTimeouts($"{Section}:Webhook", (nameof(WebhookFilterOptions.Timeout), Webhook.Timeout)))
            {
                yield return refusal;
            }

            if (Webhook.Timeout > WebhookFilterOptions.LongestTimeout)
            {
                yield return new ValidationResult(
                    $"{Section}:Webhook:Timeout must be at most {WebhookFilterOptions.LongestTimeout} (every message waits for it, and a broker gives up on a call after 5 s), not {Webhook.Timeout}.",
                    [nameof(Webhook)]);
            }
        }
    }
}

/// <summary>Words, phrases and patterns the operator does not allow (<c>Chat:Filter:Words</c>), from a file reread when it changes.</summary>
internal sealed class WordListOptions
{
    /// <summary>The list's file (format: README, "Running it in public"); unset: no word list.</summary>
    public string? File { get; set; }

    /// <summary>What the sender of a refused message is told.</summary>
    [Required, StringLength(300, MinimumLength = 1)]
    public string Message { get; set; } = "Not sent: your message contains something this chat does not allow.";
}

/// <summary>No links or contact handles in the first messages a sender sends in a chat (<c>Chat:Filter:Links</c>).</summary>
internal sealed class LinkRuleOptions
{
    /// <summary>How many of a sender's first messages in each chat may carry no link, e-mail address or contact handle; 0: the rule is off.</summary>
    [Range(0, RecentRequests.Capacity)]
    public int FirstMessages { get; set; } = 3;

    [Required, StringLength(300, MinimumLength = 1)]
    public string Message { get; set; } = "Not sent: links, e-mail addresses and contact handles are allowed only after your first {0} messages in a chat.";
}

/// <summary>The operator's own classifier (<c>Chat:Filter:Webhook</c>): each message's text is posted to it, signed.</summary>
internal sealed class WebhookFilterOptions
{
    public const int ShortestSecret = 32;

    public static readonly TimeSpan LongestTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Where each message is posted (JSON); unset: no webhook.</summary>
    public string? Url { get; set; }

    /// <summary>The HMAC-SHA256 key of the <c>X-Chat-Signature</c> header; better by environment or <see cref="SecretFile"/>.</summary>
    public string? Secret { get; set; }

    public string? SecretFile { get; set; }

    /// <summary>How long a message waits for the classifier's answer.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What a message gets when the classifier did not answer in time or answered nonsense: <c>allow</c> (fail open) or <c>refuse</c> (fail closed).</summary>
    public string OnFailure { get; set; } = "allow";

    /// <summary>What the sender of a message the classifier refused is told, unless its answer says.</summary>
    [Required, StringLength(300, MinimumLength = 1)]
    public string Message { get; set; } = "Not sent: this chat's filter did not allow your message.";

    /// <summary>What the sender is told when the classifier failed and the policy is to refuse.</summary>
    [Required, StringLength(300, MinimumLength = 1)]
    public string UnavailableMessage { get; set; } = "Not sent: this chat's filter could not check your message. Try again in a moment.";

    public bool FailClosed => OnFailure == "refuse";

    /// <summary>The secret as given or read from its file (trimmed); null when neither is set or the file cannot be read.</summary>
    public string? ResolveSecret()
    {
        if (!string.IsNullOrEmpty(Secret))
        {
            return Secret;
        }

        if (string.IsNullOrEmpty(SecretFile))
        {
            return null;
        }

        try
        {
            return System.IO.File.ReadAllText(SecretFile).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
