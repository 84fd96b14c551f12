namespace Chat.Logic.Matching;

/// <summary>
/// One shard's waiting visitors, indexed so that finding a partner costs the same however many wait:
/// per interest and language, the visitors who have it, longest waiting first; per language, those
/// open to anyone (no interests, or their fallback delay passed and, with other shards, nobody in
/// them shares an interest with them: <see cref="WaitingVisitor.Searched"/>). A search looks at the
/// <see cref="MatchingOptions.CandidatesPerInterest"/> longest waiting of each list it reads, never
/// the whole pool. It also counts visitors per address (the limit per address) and keeps the queue
/// of visitors still to be offered to the other shards. Not thread-safe: the shard's turns use it one at a time.
/// </summary>
/// <param name="otherShards">Other shards exist: a visitor with interests whose delay passed is open to anyone only once searched (<see cref="MarkSearched"/>).</param>
internal sealed class WaitingPool(TimeSpan fallbackDelay, int candidatesPerList, bool otherShards = false)
{
    /// <summary>The key of visitors who named no language, in the per-language lists.</summary>
    private const string AnyLanguage = "";

    private static readonly IComparer<Entry> LongestWaitingFirst = Comparer<Entry>.Create(static (a, b) =>
    {
        // Two who asked within one millisecond are in the order they were added, not in the order of their ids.
        var order = a.Visitor.SinceUnixMs.CompareTo(b.Visitor.SinceUnixMs);
        return order != 0 ? order : a.Sequence.CompareTo(b.Sequence);
    });

    private readonly long _fallbackMs = (long)fallbackDelay.TotalMilliseconds;
    private readonly Dictionary<ulong, Entry> _entries = [];
    private long _added;
    private readonly Dictionary<string, Dictionary<string, SortedSet<Entry>>> _byInterest = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<Entry>> _open = new(StringComparer.Ordinal);
    private readonly SortedSet<Entry> _fallingBack = new(LongestWaitingFirst);
    private readonly Queue<ulong> _toOffer = new();
    private readonly HashSet<ulong> _queued = [];

    // The lists one read of an index looks at (ListsFor), kept to be filled again: a search allocates nothing.
    private readonly List<SortedSet<Entry>> _lists = [];

    public int Count => _entries.Count;

    public bool Contains(ulong accountId) => _entries.ContainsKey(accountId);

    public WaitingVisitor? Get(ulong accountId) => _entries.GetValueOrDefault(accountId)?.Visitor;

    /// <summary>The waiting visitors (no order).</summary>
    public IEnumerable<WaitingVisitor> Visitors => _entries.Values.Select(e => e.Visitor);

    /// <summary>Visitors still to be offered to the other shards: new in the pool, or their fallback delay just passed.</summary>
    public int ToOffer => _toOffer.Count;

    /// <summary>Adds the visitor (its place is its <see cref="WaitingVisitor.SinceUnixMs"/>, so one put back keeps it); false if it waits already.</summary>
    public bool Add(WaitingVisitor visitor, long nowUnixMs)
    {
        if (_entries.ContainsKey(visitor.AccountId))
        {
            return false;
        }

        var entry = new Entry(visitor, _added++);
        _entries[visitor.AccountId] = entry;
        var lang = visitor.Lang ?? AnyLanguage;
        foreach (var interest in visitor.Interests)
        {
            ListOf(ListsOf(_byInterest, interest), lang).Add(entry);
        }

        if (IsOpen(visitor, nowUnixMs))
        {
            entry.Open = true;
            ListOf(_open, lang).Add(entry);
        }

        if (visitor.Fallback && !visitor.WantsAnyone && !IsDue(visitor, nowUnixMs))
        {
            _fallingBack.Add(entry);
        }

        Offer(visitor.AccountId);
        return true;
    }

    public WaitingVisitor? Remove(ulong accountId)
    {
        if (!_entries.Remove(accountId, out var entry))
        {
            return null;
        }

        var visitor = entry.Visitor;
        var lang = visitor.Lang ?? AnyLanguage;
        foreach (var interest in visitor.Interests)
        {
            var lists = _byInterest[interest];
            Drop(lists, lang, entry);
            if (lists.Count == 0)
            {
                _byInterest.Remove(interest);
            }
        }

        if (entry.Open)
        {
            Drop(_open, lang, entry);
        }

        _fallingBack.Remove(entry);
        return visitor;
    }

    /// <summary>
    /// Moves the visitors whose fallback delay has passed by <paramref name="nowUnixMs"/> into the lists
    /// of those open to anyone (with other shards, one with interests only once <see cref="MarkSearched"/>),
    /// and queues them to be offered again (they may fit others now, or are to be searched for).
    /// </summary>
    public void Advance(long nowUnixMs)
    {
        while (_fallingBack.Min is { } entry && IsDue(entry.Visitor, nowUnixMs))
        {
            _fallingBack.Remove(entry);
            Open(entry, nowUnixMs);
            Offer(entry.Visitor.AccountId);
        }
    }

    /// <summary>
    /// Its shard asked every other shard and none had anyone sharing an interest with this visitor
    /// (<see cref="AwaitsSearch"/>): it is open to anyone now. The visitor as it now waits (null: it does not).
    /// </summary>
    public WaitingVisitor? MarkSearched(ulong accountId, long nowUnixMs)
    {
        if (!_entries.TryGetValue(accountId, out var entry))
        {
            return null;
        }

        entry.Visitor = entry.Visitor with { Searched = true }; // the same since: its place in every list holds
        Open(entry, nowUnixMs);
        return entry.Visitor;
    }

    /// <summary>Queues a waiting visitor to be offered to the other shards again (once: it is queued at most once).</summary>
    public void Offer(ulong accountId)
    {
        if (_queued.Add(accountId))
        {
            _toOffer.Enqueue(accountId);
        }
    }

    /// <summary>Up to <paramref name="most"/> visitors still waiting that are to be offered to the other shards, longest queued first.</summary>
    public List<WaitingVisitor> TakeToOffer(int most)
    {
        var offered = new List<WaitingVisitor>(Math.Min(most, _toOffer.Count));
        while (offered.Count < most && _toOffer.TryDequeue(out var accountId))
        {
            _queued.Remove(accountId);
            if (Get(accountId) is { } visitor)
            {
                offered.Add(visitor);
            }
        }

        return offered;
    }

    /// <summary>
    /// The partner for <paramref name="seeker"/> among this pool's visitors that <paramref name="rules"/>
    /// allow: the most shared interests (ties: longest waiting) in its language, then in another once
    /// both may fall back; with none shared, once both are open to anyone (<see cref="IsOpen"/>), the longest waiting in its
    /// language, then in another. Null: nobody fits now. <c>Shared</c>: how many interests they share.
    /// </summary>
    public (WaitingVisitor Partner, int Shared)? FindFor(WaitingVisitor seeker, long nowUnixMs, IPairRules rules)
    {
        Advance(nowUnixMs);
        var seekerLangOpen = IsLanguageOpen(seeker, nowUnixMs);
        var seekerOpen = IsOpen(seeker, nowUnixMs);

        // Passes: its own language (and visitors of no language), then, once it may, any other.
        for (var pass = 0; pass < 2; pass++)
        {
            if (pass == 1 && (seeker.Lang is null || !seekerLangOpen))
            {
                break;
            }

            Entry? best = null;
            var bestShared = 0;
            foreach (var interest in seeker.Interests)
            {
                if (!_byInterest.TryGetValue(interest, out var lists))
                {
                    continue;
                }

                foreach (var list in ListsFor(seeker, lists, pass))
                {
                    var looked = 0;
                    foreach (var entry in list)
                    {
                        if (++looked > candidatesPerList)
                        {
                            break;
                        }

                        if (best is not null && LongestWaitingFirst.Compare(entry, best) >= 0 && bestShared == seeker.Interests.Length)
                        {
                            break; // nobody later in this list can do better
                        }

                        if (!Fits(seeker, entry.Visitor, interestsFit: true, nowUnixMs, rules)) // in the list of one of its interests
                        {
                            continue;
                        }

                        var shared = Interests.Shared(seeker.Interests, entry.Visitor.Interests);
                        if (shared > bestShared || (shared == bestShared && (best is null || LongestWaitingFirst.Compare(entry, best) < 0)))
                        {
                            (best, bestShared) = (entry, shared);
                        }
                    }
                }
            }

            if (best is not null)
            {
                return (best.Visitor, bestShared);
            }
        }

        if (!seekerOpen)
        {
            return null;
        }

        for (var pass = 0; pass < 2; pass++)
        {
            if (pass == 1 && (seeker.Lang is null || !seekerLangOpen))
            {
                break;
            }

            Entry? oldest = null;
            foreach (var list in ListsFor(seeker, _open, pass))
            {
                var looked = 0;
                foreach (var entry in list)
                {
                    if (++looked > candidatesPerList || (oldest is not null && LongestWaitingFirst.Compare(entry, oldest) >= 0))
                    {
                        break;
                    }

                    if (Fits(seeker, entry.Visitor, interestsFit: true, nowUnixMs, rules)) // both open to anyone
                    {
                        oldest = entry;
                        break;
                    }
                }
            }

            if (oldest is not null)
            {
                return (oldest.Visitor, 0);
            }
        }

        return null;
    }

    /// <summary>
    /// Whether a candidate another shard found for <paramref name="seeker"/> may still be paired with it
    /// here: <paramref name="candidateId"/> waits, and they fit (as <see cref="FindFor"/> would pair them).
    /// </summary>
    public WaitingVisitor? Fitting(WaitingVisitor seeker, ulong candidateId, long nowUnixMs, IPairRules rules)
    {
        Advance(nowUnixMs);
        if (Get(candidateId) is not { } candidate)
        {
            return null;
        }

        var interestsFit = Interests.Shared(seeker.Interests, candidate.Interests) > 0 || (IsOpen(seeker, nowUnixMs) && IsOpen(candidate, nowUnixMs));
        return Fits(seeker, candidate, interestsFit, nowUnixMs, rules) ? candidate : null;
    }

    /// <summary>
    /// Open to anyone: it named no interests, or may fall back and its delay has passed (and, with
    /// interests and other shards, they were searched for someone sharing one, in vain).
    /// </summary>
    public bool IsOpen(WaitingVisitor visitor, long nowUnixMs) =>
        visitor.Interests.Length == 0 || (visitor.Fallback && IsDue(visitor, nowUnixMs) && (visitor.Searched || !otherShards));

    /// <summary>Its delay passed, but before it may fall back the other shards are to be asked for someone sharing an interest with it (<see cref="MarkSearched"/>).</summary>
    public bool AwaitsSearch(WaitingVisitor visitor, long nowUnixMs) =>
        otherShards && visitor.Interests.Length > 0 && visitor.Fallback && !visitor.Searched && IsDue(visitor, nowUnixMs);

    /// <summary>Open to any language: it named none, or may fall back and its delay has passed.</summary>
    public bool IsLanguageOpen(WaitingVisitor visitor, long nowUnixMs) =>
        visitor.Lang is null || (visitor.Fallback && IsDue(visitor, nowUnixMs));

    private bool IsDue(WaitingVisitor visitor, long nowUnixMs) => nowUnixMs - visitor.SinceUnixMs >= _fallbackMs;

    /// <param name="interestsFit">They share an interest, or both are open to anyone (the caller knows which, and has counted what they share).</param>
    private bool Fits(WaitingVisitor seeker, WaitingVisitor candidate, bool interestsFit, long nowUnixMs, IPairRules rules) =>
        interestsFit
        && candidate.AccountId != seeker.AccountId
        && (seeker.Lang is null || candidate.Lang is null || seeker.Lang == candidate.Lang || (IsLanguageOpen(seeker, nowUnixMs) && IsLanguageOpen(candidate, nowUnixMs)))
        && rules.MayPair(seeker, candidate, nowUnixMs);

    private void Open(Entry entry, long nowUnixMs)
    {
        if (!entry.Open && IsOpen(entry.Visitor, nowUnixMs))
        {
            entry.Open = true;
            ListOf(_open, entry.Visitor.Lang ?? AnyLanguage).Add(entry);
        }
    }

    /// <summary>
    /// Pass 0: the seeker's language and no language (every language for a seeker of none); pass 1: the
    /// other languages. The same list each time, filled again: read it before the next call.
    /// </summary>
    private List<SortedSet<Entry>> ListsFor(WaitingVisitor seeker, Dictionary<string, SortedSet<Entry>> lists, int pass)
    {
        _lists.Clear();
        if (seeker.Lang is null)
        {
            _lists.AddRange(lists.Values);
        }
        else if (pass == 0)
        {
            if (lists.TryGetValue(seeker.Lang, out var own))
            {
                _lists.Add(own);
            }

            if (lists.TryGetValue(AnyLanguage, out var none))
            {
                _lists.Add(none);
            }
        }
        else
        {
            foreach (var (lang, list) in lists)
            {
                if (lang != seeker.Lang && lang != AnyLanguage)
                {
                    _lists.Add(list);
                }
            }
        }

        return _lists;
    }

    private static Dictionary<string, SortedSet<Entry>> ListsOf(Dictionary<string, Dictionary<string, SortedSet<Entry>>> index, string interest)
    {
        if (!index.TryGetValue(interest, out var lists))
        {
            index[interest] = lists = new Dictionary<string, SortedSet<Entry>>(StringComparer.Ordinal);
        }

        return lists;
    }

    private static SortedSet<Entry> ListOf(Dictionary<string, SortedSet<Entry>> lists, string lang)
    {
        if (!lists.TryGetValue(lang, out var list))
        {
            lists[lang] = list = new SortedSet<Entry>(LongestWaitingFirst);
        }

        return list;
    }

    private static void Drop(Dictionary<string, SortedSet<Entry>> lists, string lang, Entry entry)
    {
        if (lists.TryGetValue(lang, out var list) && list.Remove(entry) && list.Count == 0)
        {
            lists.Remove(lang);
        }
    }

    private sealed class Entry(WaitingVisitor visitor, long sequence)
    {
        /// <summary>Replaced only by one with the same since (<see cref="MarkSearched"/>), so its place in the sorted lists holds.</summary>
        public WaitingVisitor Visitor { get; set; } = visitor;

        /// <summary>How many were added to the pool before it: unique, so two entries never compare equal.</summary>
        public long Sequence { get; } = sequence;

        /// <summary>In the lists of those open to anyone.</summary>
        public bool Open { get; set; }
    }
}

/// <summary>Whether a shard may pair two visitors at all (not partners already, neither at its cap, no rule keeping them apart), apart from what they wish.</summary>
internal interface IPairRules
{
    bool MayPair(WaitingVisitor seeker, WaitingVisitor candidate, long nowUnixMs);
}
