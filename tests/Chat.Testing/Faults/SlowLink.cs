using Chat.Testing.Network;

namespace Chat.Testing.Faults;

/// <summary>
/// The relays of a slow link between two sides of a <see cref="FaultNetwork"/> (<see cref="FaultNetwork.SlowLinkAsync"/>),
/// one in each namespace that the other side dials into. <see cref="Delay"/> slows every connection through them, old and
/// new, both directions, until set back to null; the network removes them with itself.
/// </summary>
public sealed class SlowLink(IReadOnlyList<(NetworkNamespace Side, TcpRelay Relay)> relays)
{
    /// <summary>How long each chunk of bytes waits in each direction (null: passed on at once), order kept within a connection.</summary>
    public LinkDelay? Delay
    {
        get => relays[0].Relay.Delay;
        set
        {
            foreach (var (_, relay) in relays)
            {
                relay.Delay = value;
            }
        }
    }

    /// <summary>The connections open now that were dialled into <paramref name="side"/> over the link.</summary>
    public int ConnectionsInto(NetworkNamespace side) => relays.Where(r => r.Side == side).Sum(r => r.Relay.OpenConnections);
}
