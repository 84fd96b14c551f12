using Chat.Logic.Diagnostics;

namespace Chat.Logic.Filtering;

/// <summary>
/// The one seam every message passes before it is stored: the configured filters in turn, the
/// cheap ones first (the links rule, the word list), the webhook last, so a message refused here
/// costs the classifier nothing. The first refusal is the answer, counted by filter
/// (<c>chat_messages_filtered_total{filter}</c>). With only synchronous filters the answer is
/// synchronous too: a message costs no allocation here.
/// </summary>
internal sealed class MessageFilters(IEnumerable<IMessageFilter> filters, LogicMetrics metrics)
{
    private readonly IMessageFilter[] _filters = [.. filters];

    /// <summary>
    /// The verdict, when every filter answered at once (the usual case: no allocation); otherwise null,
    /// and <paramref name="pending"/> is the verdict to await.
    /// </summary>
    public FilterVerdict? Check(FilteredMessage message, CancellationToken cancellationToken, out Task<FilterVerdict>? pending)
    {
        pending = null;
        for (var i = 0; i < _filters.Length; i++)
        {
#pragma warning disable CA2012 // each ValueTask is consumed once: its result when it completed at once, else awaited once in WaitAsync
            var verdict = _filters[i].CheckAsync(message, cancellationToken);
            if (!verdict.IsCompletedSuccessfully)
            {
                pending = WaitAsync(verdict, i, message, cancellationToken);
                return null;
            }

            var result = verdict.Result;
#pragma warning restore CA2012
            if (result.Refused)
            {
                return Refused(result, _filters[i]);
            }
        }

        return FilterVerdict.Pass;
    }

    private async Task<FilterVerdict> WaitAsync(ValueTask<FilterVerdict> pending, int index, FilteredMessage message, CancellationToken cancellationToken)
    {
        var verdict = await pending;
        if (verdict.Refused)
        {
            return Refused(verdict, _filters[index]);
        }

        for (var i = index + 1; i < _filters.Length; i++)
        {
            verdict = await _filters[i].CheckAsync(message, cancellationToken);
            if (verdict.Refused)
            {
                return Refused(verdict, _filters[i]);
            }
        }

        return FilterVerdict.Pass;
    }

    private FilterVerdict Refused(FilterVerdict verdict, IMessageFilter filter)
    {
        metrics.MessageFiltered(filter.Name);
        return verdict with { Filter = filter.Name };
    }
}
