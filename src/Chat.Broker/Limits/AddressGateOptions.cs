using System.ComponentModel.DataAnnotations;
using Chat.Protocol.Settings;

namespace Chat.Broker.Limits;

/// <summary>
/// What a broker reads of <c>Chat:Limits</c> (logic reads the same section for the limits
/// themselves): whether sockets are counted per address at all, and how often it reports them.
/// </summary>
public sealed class AddressGateOptions : IValidatableObject
{
    public const string Section = "Chat:Limits";

    /// <summary>Sockets open at once from one address over the cluster; 0: not counted, and the broker never asks.</summary>
    [Range(0, 1_000_000)]
    public int SocketsPerAddress { get; set; } = 30;

    /// <summary>How often the broker tells logic how many sockets it holds from each address.</summary>
    public TimeSpan SocketReportInterval { get; set; } = TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Durations.MustBePositive(Section, (nameof(SocketReportInterval), SocketReportInterval));
}
