using System.Net;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Abuse;

/// <summary>The limits that apply to one address: the configured ones, multiplied for an address on the allow-list.</summary>
internal sealed class AddressRules
{
    private readonly LimitOptions _options;
    private readonly IPNetwork[] _allowed;

    public AddressRules(IOptions<LimitOptions> options)
    {
        _options = options.Value;
        _allowed = [.. LimitOptions.AllowListEntries(_options.AllowList).Select(entry => LimitOptions.TryParseRange(entry, out var range) ? range : throw new InvalidOperationException($"{LimitOptions.Section}:AllowList: '{entry}' is not an address or a range."))];
    }

    public LimitOptions Options => _options;

    public bool IsAllowListed(string address)
    {
        if (_allowed.Length == 0 || ClientAddresses.FirstAddressOf(address) is not { } first)
        {
            return false;
        }

        foreach (var range in _allowed)
        {
            if (range.Contains(first))
            {
                return true;
            }
        }

        return false;
    }

    public AddressLimits For(string address)
    {
        var factor = IsAllowListed(address) ? _options.AllowListFactor : 1;
        return new AddressLimits(
            _options.AccountsPerMinute * factor,
            (double)_options.AccountsBurst * factor,
            (long)_options.SocketsPerAddress * factor,
            (long)_options.WaitingPerAddress * factor,
            (double)_options.Challenge.AfterAccounts * factor,
            _options.Challenge.Always,
            (double)_options.ReportsPerHour * factor,
            _options.FailedReconnectsPerMinute * factor,
            (double)_options.FailedReconnectsBurst * factor);
    }
}

/// <summary>The limits of one address (0: off).</summary>
internal readonly record struct AddressLimits(double AccountsPerMinute, double AccountsBurst, long Sockets, long Waiting, double ChallengeAfter, bool AlwaysChallenge, double ReportsPerHour, double FailedReconnectsPerMinute, double FailedReconnectsBurst);
