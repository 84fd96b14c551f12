namespace Chat.Logic.Housekeeping;

/// <summary>Whether a broker answers, for the housekeeper's check of the brokers accounts are bound to.</summary>
internal interface IBrokerProbe
{
    Task<bool> IsReachableAsync(string broker, CancellationToken cancellationToken);
}

/// <summary>All-in-one: the only broker is this process, alive as long as the check runs.</summary>
internal sealed class LocalBrokerProbe : IBrokerProbe
{
    public Task<bool> IsReachableAsync(string broker, CancellationToken cancellationToken) => Task.FromResult(true);
}
