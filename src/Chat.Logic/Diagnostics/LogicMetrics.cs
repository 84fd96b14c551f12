using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Chat.Logic.Diagnostics;

/// <summary>The logic's and store's instruments (meter <c>Chat.Logic</c>).</summary>
internal sealed class LogicMetrics
{
    public const string MeterName = "Chat.Logic";

    private readonly Meter _meter;
    private readonly Counter<long> _stored;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _matches;
    private readonly Histogram<long> _batchSize;
    private readonly Histogram<double> _commitSeconds;
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _unchecked;
    private readonly UpDownCounter<long> _trackedAddresses;
    private readonly Counter<long> _matchesByKind;
    private readonly Histogram<double> _waitSeconds;
    private readonly Counter<long> _reports;
    private readonly Counter<long> _filtered;
    private readonly Counter<long> _webhookFailures;

    // Refusals by kind since the last TakeRefusals, for the cluster's tally of the last hour (the operator's page).
    private readonly ConcurrentDictionary<string, long> _untallied = new(StringComparer.Ordinal);

    public LogicMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _stored = _meter.CreateCounter<long>("chat.messages.stored", "{message}", "Messages committed to the store.");
        _delivered = _meter.CreateCounter<long>("chat.messages.delivered", "{message}", "Messages pushed to a receiver's socket (live or replayed).");
        _replayed = _meter.CreateCounter<long>("chat.messages.replayed", "{message}", "Messages pushed again after a reconnect.");
        _matches = _meter.CreateCounter<long>("chat.sessions.started", "{session}", "Sessions started by matching.");
        _batchSize = _meter.CreateHistogram<long>("chat.store.commit.batch_size", "{write}", "Writes committed together in one transaction.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
        _commitSeconds = _meter.CreateHistogram<double>("chat.store.commit.duration", "s", "Time to commit one batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1] });
        _refusals = _meter.CreateCounter<long>("chat.abuse.refusals", "{refusal}", "Requests refused by a per-address or per-account limit or the bot challenge, by kind.");
        _unchecked = _meter.CreateCounter<long>("chat.abuse.unchecked", "{check}", "Limits that could not be checked (their grain did not answer in time) and let the request through, by kind.");
        _matchesByKind = _meter.CreateCounter<long>("chat.matching.matches", "{match}", "Pairs made, by kind: interest (a shared interest), fallback (none shared, after the fallback delay), plain (neither asked for interests).");
        _waitSeconds = _meter.CreateHistogram<double>("chat.matching.wait.duration", "s", "How long a visitor waited in the pool before it was paired.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 7.5, 10, 30, 60, 300] });
        _reports = _meter.CreateCounter<long>("chat.moderation.reports", "{report}", "Reports visitors filed against a partner, by reason.");
        _filtered = _meter.CreateCounter<long>("chat.messages.filtered", "{message}", "Messages refused by the message filter before they were stored, by filter (links, words, webhook).");
        _webhookFailures = _meter.CreateCounter<long>("chat.filter.webhook.failures", "{call}", "Calls to the filter webhook that failed (timeout, status, answer, unreachable); the message then went as Chat:Filter:Webhook:OnFailure says.");
        _trackedAddresses = _meter.CreateUpDownCounter<long>("chat.abuse.tracked_addresses", "{address}", "Addresses the address shards on this node remember (each is forgotten once it went quiet).");
    }

    /// <summary>The gauge of this node's open links to brokers (a cluster's logic node).</summary>
    public void ObserveBrokerLinks(Func<int> links) =>
        _meter.CreateObservableUpDownCounter("chat.logic.broker_links", links, "{link}", "Brokers this logic node holds a channel to (closed once idle).");

    /// <summary>Gauges read from logic's live state.</summary>
    public void Observe(Func<int> online, Func<int> waiting, Func<int> sessions)
    {
        _meter.CreateObservableUpDownCounter("chat.accounts.online", online, "{account}", "Accounts with an open socket.");
        _meter.CreateObservableUpDownCounter("chat.matching.waiting", waiting, "{account}", "Accounts in the waiting pool.");
        _meter.CreateObservableUpDownCounter("chat.sessions.active", sessions, "{session}", "Sessions that have not ended.");
    }

    public void MessageStored() => _stored.Add(1);

    public void MessageDelivered() => _delivered.Add(1);

    public void MessageReplayed()
    {
        _replayed.Add(1);
        _delivered.Add(1);
    }

    public void SessionStarted() => _matches.Add(1);

    /// <summary>A pair made, of <paramref name="kind"/> (a <see cref="Matching.MatchKind"/> name), and how long the one that waited had waited.</summary>
    public void Matched(string kind, TimeSpan waited)
    {
        _matchesByKind.Add(1, new KeyValuePair<string, object?>("kind", kind));
        _waitSeconds.Record(Math.Max(0, waited.TotalSeconds));
    }

    public void Refused(string kind)
    {
        _refusals.Add(1, new KeyValuePair<string, object?>("kind", kind));
        _untallied.AddOrUpdate(kind, 1, static (_, count) => count + 1);
    }

    /// <summary>The refusals counted since the last call, by kind (and forgets them).</summary>
    public Dictionary<string, long> TakeRefusals()
    {
        var taken = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var kind in _untallied.Keys)
        {
            if (_untallied.TryRemove(kind, out var count) && count > 0)
            {
                taken[kind] = count;
            }
        }

        return taken;
    }

    public void Unchecked(string kind) => _unchecked.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void Reported(string reason) => _reports.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void MessageFiltered(string filter) => _filtered.Add(1, new KeyValuePair<string, object?>("filter", filter));

    public void FilterWebhookFailed(string reason) => _webhookFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void AddressTracked() => _trackedAddresses.Add(1);

    public void AddressForgotten() => _trackedAddresses.Add(-1);

    public void AddressesForgotten(int count) => _trackedAddresses.Add(-count);

    public void Committed(int writes, TimeSpan took)
    {
        _batchSize.Record(writes);
        _commitSeconds.Record(took.TotalSeconds);
    }
}
