namespace Chat.Logic.Housekeeping;

/// <summary>
/// The one housekeeper of the cluster (key 0): ends the sessions of accounts whose grace period
/// ran out, as the store records it, so a grace period outlives the node it started on.
/// </summary>
internal interface IHousekeeperGrain : IGrainWithIntegerKey
{
    /// <summary>One sweep; every node's <see cref="LogicSweeper"/> asks, and sweeps closer together than half the interval are skipped.</summary>
    Task Sweep();
}
