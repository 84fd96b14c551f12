using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Logic.Serialization;

// The protocol's own types cross grain calls (and, in a cluster, the network between silos).
// Chat.Protocol knows nothing of Orleans, so each gets a surrogate here.

[GenerateSerializer, Immutable]
internal readonly struct ClientEndpointSurrogate(string broker, ulong connectionId, long incarnation)
{
    [Id(0)] public readonly string Broker = broker;
    [Id(1)] public readonly ulong ConnectionId = connectionId;
    [Id(2)] public readonly long Incarnation = incarnation;
}

[RegisterConverter]
internal sealed class ClientEndpointConverter : IConverter<ClientEndpoint, ClientEndpointSurrogate>
{
    public ClientEndpoint ConvertFromSurrogate(in ClientEndpointSurrogate surrogate) => new(surrogate.Broker, surrogate.ConnectionId, surrogate.Incarnation);

    public ClientEndpointSurrogate ConvertToSurrogate(in ClientEndpoint value) => new(value.Broker, value.ConnectionId, value.Incarnation);
}

[GenerateSerializer, Immutable]
internal readonly struct ResultCodeSurrogate(int value)
{
    [Id(0)] public readonly int Value = value;
}

[RegisterConverter]
internal sealed class ResultCodeConverter : IConverter<ResultCode, ResultCodeSurrogate>
{
    public ResultCode ConvertFromSurrogate(in ResultCodeSurrogate surrogate) => (ResultCode)surrogate.Value;

    public ResultCodeSurrogate ConvertToSurrogate(in ResultCode value) => new((int)value);
}

[GenerateSerializer, Immutable]
internal readonly struct LeaveKindSurrogate(int value)
{
    [Id(0)] public readonly int Value = value;
}

[RegisterConverter]
internal sealed class LeaveKindConverter : IConverter<LeaveKind, LeaveKindSurrogate>
{
    public LeaveKind ConvertFromSurrogate(in LeaveKindSurrogate surrogate) => (LeaveKind)surrogate.Value;

    public LeaveKindSurrogate ConvertToSurrogate(in LeaveKind value) => new((int)value);
}

[GenerateSerializer, Immutable]
internal readonly struct BanTargetSurrogate(int value)
{
    [Id(0)] public readonly int Value = value;
}

[RegisterConverter]
internal sealed class BanTargetConverter : IConverter<BanTarget, BanTargetSurrogate>
{
    public BanTarget ConvertFromSurrogate(in BanTargetSurrogate surrogate) => (BanTarget)surrogate.Value;

    public BanTargetSurrogate ConvertToSurrogate(in BanTarget value) => new((int)value);
}
