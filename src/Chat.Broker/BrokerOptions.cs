using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Broker;

public sealed class BrokerOptions : IValidatableObject
{
    public const string Section = "Chat:Broker";

    /// <summary>This broker's address as logic records it with an account (its gRPC address in split mode).</summary>
    [Required]
    public string Address { get; set; } = "127.0.0.1:18225";

    /// <summary>The WebSocket path.</summary>
    [Required]
    public string Path { get; set; } = "/ws";

    /// <summary>
    /// Whether the broker answers the WebSocket handshake on its HTTP/1.1 endpoints itself (Chat.Broker/Handshake),
    /// so a socket does not keep Kestrel's HTTP/1.1 request alive beneath it; false: Kestrel upgrades every socket.
    /// </summary>
    public bool OwnHandshake { get; set; } = true;

    /// <summary>How long a new connection may take to send its WebSocket handshake's head before it is dropped (Kestrel's own request-header timeout is the same 30 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the server sends PING_REQ.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A socket that sends nothing for this long is treated as gone.</summary>
    public TimeSpan SilenceTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A socket write that takes longer than this aborts that connection (a stuck client).</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait for the client's answer to our close frame before aborting.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A frame must arrive whole within this from its first bytes; one that takes longer closes the socket with 1008.</summary>
    public TimeSpan FrameDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest client frame in bytes; a larger one closes the socket with 1009.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxFrameBytes { get; set; } = 16 * 1024;

    /// <summary>Frames waiting to be written to one socket; a client that lets more pile up is disconnected.</summary>
    [Range(8, 1_000_000)]
    public int SendQueueLength { get; set; } = 1024;

    /// <summary>
    /// Origins a browser page may connect from. Empty: only pages served by this host (same host and
    /// port as the request). "*": any origin (development only). Requests without Origin are allowed.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>
    /// How often what clients received is reported to logic (their delivery marks), batched per
    /// socket and session rather than one call per message. A socket that ends reports at once.
    /// </summary>
    public TimeSpan DeliveryReportInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A client that confirms pushes (confirmReceipt) but leaves more than this many of one session's
    /// pushes unconfirmed is treated as not confirming: its delivery marks then move on socket writes.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxUnconfirmedPushes { get; set; } = 64;

    /// <summary>Likewise for a client that leaves a push unconfirmed for longer than this.</summary>
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>How often the broker reads the cluster's bans from logic (and closes the sockets a new ban covers): a ban is in force everywhere within this and logic's Chat:Moderation:BanRefresh.</summary>
    public TimeSpan BanRefresh { get; set; } = TimeSpan.FromMilliseconds(500);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Each drives a timer or a deadline: zero or less would spin or fire at once.
        return Durations.MustBePositive(
            Section,
            (nameof(HandshakeTimeout), HandshakeTimeout),
            (nameof(PingInterval), PingInterval),
            (nameof(SilenceTimeout), SilenceTimeout),
            (nameof(SendTimeout), SendTimeout),
            (nameof(CloseTimeout), CloseTimeout),
            (nameof(FrameDeadline), FrameDeadline),
            (nameof(ConfirmTimeout), ConfirmTimeout),
            (nameof(DeliveryReportInterval), DeliveryReportInterval),
            (nameof(BanRefresh), BanRefresh));
    }
}

/// <summary>A token bucket per connection.</summary>
public sealed class RateLimitOptions
{
    /// <summary>Frames per second a connection may send on average.</summary>
    [Range(0.1, 10_000_000)]
    public double PerSecond { get; set; } = 20;

    /// <summary>Frames a connection may send at once after being quiet.</summary>
    [Range(1, 10_000_000)]
    public int Burst { get; set; } = 40;

    /// <summary>Refused frames in a row after which the socket is closed (1008).</summary>
    [Range(1, 1_000_000)]
    public int MaxRefusedInARow { get; set; } = 50;
}
