using System.Collections.Concurrent;
using Chat.Bench.Measuring;

namespace Chat.Bench.Connections;

/// <summary>
/// What every visitor of one run shares: how to send (closed or open loop), when measuring starts
/// (after the warm-up), and the latency histograms.
/// </summary>
public sealed class Traffic
{
    public LatencyRecorder EndToEnd { get; } = new();

    public LatencyRecorder Ack { get; } = new();

    /// <summary>Visitor index by account id, to tell a misrouted message from a right one.</summary>
    public ConcurrentDictionary<ulong, int> IndexOfAccount { get; } = new();

    public bool ClosedLoop { get; init; }

    /// <summary>Messages each visitor sends (0: until told to stop).</summary>
    public long MessageLimit { get; init; }

    public int ContentBytes { get; init; } = 64;

    /// <summary>
    /// Each visitor does what the web client's page does with a conversation open: it creates its
    /// account with <c>confirmReceipt</c>, confirms every push with PUSH_DIALOGUE_RESP and sends a
    /// read receipt (VIEWED_ACK_REQ) for each new message.
    /// </summary>
    public bool ActsAsPage { get; init; }

    /// <summary>A send refused with InternalErr goes again with the same requestId (see ChatOptions.RetryRefused).</summary>
    public bool RetryRefused { get; init; }

    /// <summary>
    /// (sender index, seq) of every send that was refused and sent again: the server gave it its place
    /// when it accepted it, after messages sent later, so it arrives after them by design, not out of order.
    /// </summary>
    public ConcurrentDictionary<(int Sender, long Seq), byte> SentAgain { get; } = new();

    private long measureFrom = long.MaxValue;
    private volatile bool stopSending;

    /// <summary>Messages sent (stamped) at or after this timestamp are measured.</summary>
    public long MeasureFrom => Volatile.Read(ref measureFrom);

    public void StartMeasuring(long timestamp) => Volatile.Write(ref measureFrom, timestamp);

    public bool StopSending => stopSending;

    public void Stop() => stopSending = true;
}
