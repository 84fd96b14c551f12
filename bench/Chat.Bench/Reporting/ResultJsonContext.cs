using System.Text.Json.Serialization;
using Chat.Bench.Scenarios;

namespace Chat.Bench.Reporting;

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ChatResult))]
[JsonSerializable(typeof(CrowdResult))]
[JsonSerializable(typeof(IdleResult))]
[JsonSerializable(typeof(MatchStormResult))]
[JsonSerializable(typeof(ResumeResult))]
internal sealed partial class ResultJsonContext : JsonSerializerContext;
