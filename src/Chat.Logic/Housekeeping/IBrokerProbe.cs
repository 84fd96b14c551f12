namespace Chat.Logic.Housekeeping;

/// <summary>Whether a broker answers, for the housekeeper's check of the brokers accounts are bound to.</summary>
internal interface IBrokerProbe
{
    /// <summary>The broker's incarnation (this start of it; 0 if it does not say) if it answers, null if it is silent.</summary>
    Task<long?> AnswerAsync(string broker, CancellationToken cancellationToken);
}

/// <summary>All-in-one: the only broker is this process, alive as long as the check runs.</summary>
internal sealed class LocalBrokerProbe : IBrokerProbe
{
    public Task<long?> AnswerAsync(string broker, CancellationToken cancellationToken) => Task.FromResult<long?>(0);
}
