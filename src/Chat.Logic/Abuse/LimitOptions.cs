using System.ComponentModel.DataAnnotations;
using System.Net;
using Chat.Protocol.Settings;

namespace Chat.Logic.Abuse;

/// <summary>
/// The per-address and per-account limits (<c>Chat:Limits</c>). Each is off at 0. An address is a
/// client's IPv4 address or its IPv6 /64 (<see cref="Protocol.Seams.ClientAddresses"/>).
/// </summary>
internal sealed class LimitOptions : IValidatableObject
{
    public const string Section = "Chat:Limits";

    /// <summary>New accounts an address may create per minute, on average (a token bucket); 0: no limit.</summary>
    [Range(0, 1_000_000)]
    public double AccountsPerMinute { get; set; } = 10;

    /// <summary>New accounts an address may create at once after a quiet spell (the bucket's size).</summary>
    [Range(1, 1_000_000)]
    public int AccountsBurst { get; set; } = 20;

    /// <summary>Sockets open at once from one address, over every broker; 0: no limit. Brokers read it too.</summary>
    [Range(0, 1_000_000)]
    public int SocketsPerAddress { get; set; } = 30;

    /// <summary>Visitors from one address in the waiting pool at once; 0: no limit.</summary>
    [Range(0, 1_000_000)]
    public int WaitingPerAddress { get; set; } = 3;

    /// <summary>Matches one account may be part of per minute (matches made, not MATCH_REQs sent); 0: no limit.</summary>
    [Range(0, 1_000_000)]
    public int MatchesPerMinute { get; set; } = 20;

    /// <summary>Reports one address may file per hour (a token bucket of this size): each is kept a month with its evidence, and keeps a pair apart; 0: no limit.</summary>
    [Range(0, 1_000_000)]
    public int ReportsPerHour { get; set; } = 20;

    /// <summary>
    /// Reconnects an address may make per minute, on average, that name no account or the wrong token (a
    /// token bucket): each costs an account lookup, which a stranger guessing could repeat without end.
    /// One with the right token is never counted. 0: no limit.
    /// </summary>
    [Range(0, 1_000_000)]
    public double FailedReconnectsPerMinute { get; set; } = 10;

    /// <summary>Failed reconnects an address may make at once after a quiet spell (the bucket's size).</summary>
    [Range(1, 1_000_000)]
    public int FailedReconnectsBurst { get; set; } = 20;

    /// <summary>Addresses and ranges (CIDR, comma-separated) whose per-address limits are multiplied by <see cref="AllowListFactor"/>: a known carrier-grade NAT, an office.</summary>
    public string? AllowList { get; set; }

    [Range(1, 10_000)]
    public int AllowListFactor { get; set; } = 10;

    /// <summary>How long a limit's grain may take to answer; past it the request goes ahead unchecked (fails open), with a log line and a metric.</summary>
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each logic node asks the address shards to forget addresses that went quiet.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a broker reports the sockets it holds per address; a broker silent for three of these (it died) no longer counts. Brokers read it too.</summary>
    public TimeSpan SocketReportInterval { get; set; } = TimeSpan.FromSeconds(30);

    public ChallengeOptions Challenge { get; set; } = new();

    /// <summary>Whether any per-address rule is on; with none, no address is tracked at all.</summary>
    public bool AnyAddressLimit => AccountsPerMinute > 0 || SocketsPerAddress > 0 || ReportsPerHour > 0 || FailedReconnectsPerMinute > 0 || Challenge.IsOn;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var entry in AllowListEntries(AllowList))
        {
            if (!TryParseRange(entry, out _))
            {
                yield return new ValidationResult($"{Section}:AllowList: '{entry}' is not an IP address or a CIDR range such as 100.64.0.0/10.", [nameof(AllowList)]);
            }
        }

        foreach (var refusal in Durations.MustBePositive(Section, (nameof(SweepInterval), SweepInterval), (nameof(SocketReportInterval), SocketReportInterval))
            .Concat(Durations.MustBeTimeouts(Section, (nameof(CheckTimeout), CheckTimeout)))
            .Concat(Durations.MustBePositive($"{Section}:Challenge", (nameof(ChallengeOptions.Expiry), Challenge.Expiry))))
        {
            yield return refusal;
        }

        // The binder's checks stop at this class: the challenge's own ranges are checked here.
        var nested = new List<ValidationResult>();
        Validator.TryValidateObject(Challenge, new ValidationContext(Challenge), nested, validateAllProperties: true);
        foreach (var refusal in nested)
        {
            yield return new ValidationResult($"{Section}:Challenge:{string.Join(',', refusal.MemberNames)}: {refusal.ErrorMessage}", [nameof(Challenge)]);
        }

        if (Challenge.KeyFile is { Length: > 0 } file && !File.Exists(file))
        {
            yield return new ValidationResult($"{Section}:Challenge:KeyFile: '{file}' does not exist.", [nameof(Challenge)]);
        }
    }

    public static IEnumerable<string> AllowListEntries(string? list) =>
        string.IsNullOrWhiteSpace(list) ? [] : list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>An address (a range of one) or a CIDR range.</summary>
    public static bool TryParseRange(string entry, out IPNetwork range)
    {
        if (IPAddress.TryParse(entry, out var address))
        {
            range = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return IPNetwork.TryParse(entry, out range);
    }
}

/// <summary>The proof of work a new account needs once its address has made many (<c>Chat:Limits:Challenge</c>).</summary>
internal sealed class ChallengeOptions
{
    public const string Section = "Chat:Limits:Challenge";

    /// <summary>Accounts an address may create per minute without a challenge; each one beyond needs a solved one. 0: never, unless <see cref="Always"/>.</summary>
    [Range(0, 1_000_000)]
    public int AfterAccounts { get; set; } = 5;

    /// <summary>Every new account needs a solved challenge.</summary>
    public bool Always { get; set; }

    /// <summary>Whether a challenge is ever asked for.</summary>
    public bool IsOn => AfterAccounts > 0 || Always || AfterMatches > 0;

    /// <summary>New partners an account may have per minute before each further MATCH_REQ needs a solved challenge (faster than a person skips); 0: never.</summary>
    [Range(0, 1_000_000)]
    public int AfterMatches { get; set; } = 10;

    /// <summary>The difficulty: the secret number is at most this, so a browser tries half of it on average (100,000: well under a second on a phone).</summary>
    [Range(1, int.MaxValue)]
    public long MaxNumber { get; set; } = 100_000;

    /// <summary>How long a challenge may be answered after it was made.</summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The HMAC key challenges are signed with. Unset: <see cref="KeyFile"/>; neither: a logic node of a cluster without TLS derives it from the shared secret (with TLS it must be set), all-in-one makes one and keeps it in the data folder.</summary>
    public string? Key { get; set; }

    /// <summary>A file holding the HMAC key.</summary>
    public string? KeyFile { get; set; }
}
