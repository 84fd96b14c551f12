using System.Collections.Concurrent;
using Chat.Logic.Storage;
using Chat.Logic.Storage.Memory;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Chat.Testing;
using Chat.Testing.Cluster;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace Chat.Tests.Cluster;

/// <summary>
/// A grain that fails on the store answers a caller on another silo as it would a caller on its
/// own: the store's failure crosses silos as itself, so the visitor hears "try again", not an
/// error the logic has no answer for (which a broker turns into a failed call).
/// </summary>
public sealed class StoreFailureAcrossSilosTests
{
    [Fact]
    public async Task A_session_grain_on_the_other_silo_that_cannot_read_the_store_answers_try_again()
    {
        var shared = new MemoryChatStore();
        var failures = new Failures();
        await using var cluster = await LogicCluster.StartAsync(shared, 2, (services, inner) => new UnreadableSessionsStore(inner, services.GetRequiredService<ILocalSiloDetails>().SiloAddress, failures));
        var logic = cluster.LogicOn(cluster.Silos[0]);
        var alice = await ClusterVisitor.CreateAsync(cluster.Broker, logic, "alice");
        var elsewhere = cluster.Silos[1].SiloAddress;

        // Sessions the node has not loaded yet: each activates where placement puts it (at random
        // here) and fails to load. Ask until one of them failed on the other silo.
        failures.Unreadable = true;
        for (var sessionId = 1_000UL; !failures.FailedOn.Contains(elsewhere) && sessionId < 1_064; sessionId++)
        {
            Assert.Equal(ResultCode.InternalErr, await logic.EndSessionAsync(alice.AccountId, sessionId, CancellationToken.None).AsTask().Within(ClusterVisitor.Timeout, "EndSession"));
        }

        Assert.Contains(elsewhere, failures.FailedOn);

        // The store back, the same node answers for a session it can load (not one of hers).
        failures.Unreadable = false;
        Assert.Equal(ResultCode.ParamErr, await logic.EndSessionAsync(alice.AccountId, 2_000, CancellationToken.None).AsTask().Within(ClusterVisitor.Timeout, "EndSession"));
    }

    private sealed class Failures
    {
        public volatile bool Unreadable;

        public ConcurrentBag<SiloAddress> FailedOn { get; } = [];
    }

    /// <summary>One silo's view of the shared store: its session reads fail while <see cref="Failures.Unreadable"/>, as MariaDB's do when it cannot be reached.</summary>
    private sealed class UnreadableSessionsStore(IChatStore inner, SiloAddress silo, Failures failures) : MemoryStoreWrapper(inner)
    {
        public override Task<SessionState?> LoadSessionAsync(ulong sessionId, CancellationToken cancellationToken)
        {
            if (!failures.Unreadable)
            {
                return base.LoadSessionAsync(sessionId, cancellationToken);
            }

            failures.FailedOn.Add(silo);
            throw new StoreUnavailableException("The database could not be reached (test).");
        }

        public override Task WriteAsync(IReadOnlyList<StoreWrite> batch, WriteOutcome[] outcomes, CancellationToken cancellationToken) =>
            Inner.WriteAsync(batch, outcomes, cancellationToken);
    }
}
