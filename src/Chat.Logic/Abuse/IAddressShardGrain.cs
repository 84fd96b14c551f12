namespace Chat.Logic.Abuse;

/// <summary>
/// One of the cluster's <see cref="Admissions.Shards"/> address shards (key: its number): the
/// <see cref="AddressRecord"/> of every address that hashes to it. Each address is counted in one
/// place whichever broker and logic node its requests come through. A shard rather than a grain per
/// address: an address a visitor uses once then costs an entry, not a grain activation (and, in a
/// cluster, a directory entry), which is what a flood from many addresses would make us pay.
/// </summary>
internal interface IAddressShardGrain : IGrainWithIntegerKey
{
    Task<AddressVerdict> OpenSocket(string address, string broker);

    Task CloseSocket(string address, string broker);

    /// <summary>A broker's report of the sockets it holds from these addresses.</summary>
    Task HoldSockets(string broker, IReadOnlyList<AddressCount> held);

    /// <summary>The broker (re)started: it holds none of the sockets it held before.</summary>
    Task ForgetBroker(string broker);

    /// <summary>May the address create an account? <paramref name="solved"/>: a challenge it answered correctly, if any.</summary>
    Task<AddressVerdict> AdmitAccount(string address, SolvedChallenge? solved);

    /// <summary>May the address file a report? One is counted if so.</summary>
    Task<AddressVerdict> FileReport(string address);

    /// <summary>May the address try a reconnect? Refused once its failed reconnects are spent; nothing is counted.</summary>
    Task<AddressVerdict> MayReconnect(string address);

    /// <summary>A reconnect from the address named no account or the wrong token: one of its allowance is spent.</summary>
    [Orleans.Concurrency.OneWay]
    Task ReconnectFailed(string address);

    /// <summary>Spends a challenge the address solved for something other than an account (a match); false if it was spent before.</summary>
    Task<bool> Spend(string address, SolvedChallenge solved);

    /// <summary>
    /// The account is about to wait for a partner: true (and counted until <see cref="ReleaseWaiting"/>)
    /// unless <paramref name="limit"/> others from the address wait already. A count lost with a
    /// matchmaker shard's node expires after <see cref="AddressShardGrain.WaitingHoldLifetime"/>.
    /// </summary>
    Task<bool> HoldWaiting(string address, ulong accountId, long limit);

    /// <summary>The account no longer waits (paired, or gone).</summary>
    [Orleans.Concurrency.OneWay]
    Task ReleaseWaiting(string address, ulong accountId);

    /// <summary>Forgets addresses that hold nothing any more; returns how many it still tracks.</summary>
    Task<int> Sweep();
}

[GenerateSerializer, Immutable]
internal readonly record struct AddressCount([property: Id(0)] string Address, [property: Id(1)] int Count);

[GenerateSerializer, Immutable]
internal readonly record struct AddressVerdict([property: Id(0)] AddressVerdict.Kind Is, [property: Id(1)] int RetryAfter = 0, [property: Id(2)] long Limit = 0)
{
    public static AddressVerdict Admitted => default;

    [GenerateSerializer]
    public enum Kind
    {
        Admitted,

        /// <summary>Over a limit; <see cref="RetryAfter"/> says for how long.</summary>
        RateLimited,

        /// <summary>A solved challenge is needed, and none came.</summary>
        ChallengeRequired,

        /// <summary>A solved challenge is needed, and the one that came was accepted before.</summary>
        ChallengeSpent,
    }
}
