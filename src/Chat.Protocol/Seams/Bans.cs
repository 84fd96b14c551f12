namespace Chat.Protocol.Seams;

/// <summary>What an operator's ban names: one address (an IPv4 address, or an IPv6 /64, as <see cref="ClientAddresses.KeyOf"/> keys them) or one account.</summary>
public enum BanTarget
{
    Address = 0,
    Account = 1,
}

/// <summary>
/// A ban in force: sockets from <see cref="Value"/> (an address key, or an account id in decimal) are
/// closed and refused until <see cref="UntilUnixMs"/>. <see cref="Ref"/> is what the visitor is shown
/// and may quote to the operator.
/// </summary>
public sealed record Ban(string Ref, BanTarget Target, string Value, long UntilUnixMs, string Reason)
{
    /// <summary>Whether the ban covers a socket from <paramref name="address"/> with <paramref name="accountId"/> (0: none yet), at <paramref name="nowUnixMs"/>.</summary>
    public bool Covers(string address, ulong accountId, long nowUnixMs) =>
        nowUnixMs < UntilUnixMs && Target switch
        {
            BanTarget.Address => string.Equals(Value, address, StringComparison.Ordinal),
            BanTarget.Account => accountId != 0 && Value == accountId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => false,
        };
}

/// <summary>The bans in force in the cluster; <see cref="Version"/> changes whenever they do.</summary>
public sealed record BanBook(long Version, IReadOnlyList<Ban> Bans)
{
    public static BanBook Empty { get; } = new(0, []);

    /// <summary>The ban that covers a socket from <paramref name="address"/> with <paramref name="accountId"/> now, if any (the longest).</summary>
    public Ban? Find(string address, ulong accountId, long nowUnixMs)
    {
        Ban? found = null;
        foreach (var ban in Bans)
        {
            if (ban.Covers(address, accountId, nowUnixMs) && (found is null || ban.UntilUnixMs > found.UntilUnixMs))
            {
                found = ban;
            }
        }

        return found;
    }
}

/// <summary>The answer to a report: 0, 1 (a bad reason or note, not your session), 4 (the session ended too long ago, or never was), 2 (try again).</summary>
public readonly record struct ReportResult(Frames.ResultCode Code, string? Message = null);
