using System.Text.Json;

namespace Chat.Tests.Infrastructure;

/// <summary>One frame the server sent, with typed accessors for the assertions.</summary>
public sealed class Frame(JsonElement root, string raw)
{
    public JsonElement Root { get; } = root;

    public string Raw { get; } = raw;

    public string Cmd => Root.GetProperty("cmd").GetString()!;

    public int Code() => Root.GetProperty("code").GetInt32();

    public ulong ULong(string name) => Root.GetProperty(name).GetUInt64();

    public string? String(string name) => Root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public bool Has(string name) => Root.TryGetProperty(name, out _);

    public ulong DataAccountId => Root.GetProperty("data").GetProperty("accountId").GetUInt64();

    public override string ToString() => Raw;
}
