using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Chat.Broker.Upstream;

/// <summary>
/// The logic nodes that failed a call lately (refused it, or did not answer in time): each is tried
/// last until <see cref="UpstreamOptions.SitOut"/> has passed since, or until it answers again.
/// Not a Polly circuit breaker: an open breaker refuses calls, and a node sitting out must still be
/// tried when every other node has failed too.
/// </summary>
internal sealed class SitOuts(TimeProvider time, IOptions<UpstreamOptions> options)
{
    private readonly TimeSpan _sitOut = options.Value.SitOut;
    private readonly ConcurrentDictionary<string, long> _failedAt = new();

    /// <summary>Now, as <see cref="IsSittingOut"/> takes it (one reading serves a whole walk over the nodes).</summary>
    public long Now => time.GetTimestamp();

    /// <summary>How long ago <paramref name="then"/> (a reading of <see cref="Now"/>) was.</summary>
    public TimeSpan Since(long then) => time.GetElapsedTime(then);

    public bool IsSittingOut(string node, long now) =>
        !_failedAt.IsEmpty && _failedAt.TryGetValue(node, out var failed) && time.GetElapsedTime(failed, now) < _sitOut;

    public void Failed(string node) => _failedAt[node] = time.GetTimestamp();

    /// <summary>The node is no longer one of the logic nodes.</summary>
    public void Forget(string node) => _failedAt.TryRemove(node, out _);

    public void Answered(string node)
    {
        if (!_failedAt.IsEmpty)
        {
            _failedAt.TryRemove(node, out _);
        }
    }
}
