using System.Text;
using CsCheck;

namespace Chat.Tests.Fuzzing;

/// <summary>
/// Text-frame payloads a hostile client might send, as CsCheck generators: real requests of every
/// command, then mutated: keys in other cases or escaped, each field given a value of every wrong
/// JSON type, numbers too big or negative or fractional, lone surrogates, duplicate keys, nesting
/// past the parser's depth limit, cut short, with junk before or after. All of it valid UTF-8
/// (invalid UTF-8 ends the socket: it is a wire case, <see cref="HostileWire"/>).
/// </summary>
public static class HostileJson
{
    private static readonly string[] Commands =
    [
        "CRT_ACCOUNT_REQ", "RECONNECT_REQ", "MATCH_REQ", "DIALOGUE_REQ", "PUSH_DIALOGUE_RESP", "PUSH_SIGNAL_RESP",
        "PING_REQ", "PING_RESP", "VIEWED_ACK_REQ", "END_SESSION_REQ", "TYPING_REQ", "STATS_REQ",
    ];

    private static readonly string[] KnownKeys =
        ["cmd", "nickName", "accountId", "senderId", "sessionId", "msgId", "requestId", "content", "token", "code", "confirmReceipt"];

    /// <summary>JSON values of every type, the odd ones first among equals.</summary>
    private static readonly Gen<string> Scalar = Gen.OneOf(
        Gen.Const("null"), Gen.Const("true"), Gen.Const("false"),
        Gen.Const("0"), Gen.Const("1"), Gen.Const("-1"), Gen.Const("1.5"), Gen.Const("1e400"), Gen.Const("-0"),
        Gen.Const("18446744073709551615"), Gen.Const("18446744073709551616"), Gen.Const("9007199254740993"),
        Gen.Const("123456789012345678901234567890123456789012345678901234567890"), Gen.Const("2147483648"),
        Gen.ULong.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Gen.Int[0, 100].Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Gen.Const("\"\""), Gen.Const("\"   \""), Gen.Const("\"\\uD800\""), Gen.Const("\"a\\uDC00b\""), Gen.Const("\"\\uD83D\\uDE00\""),
        Gen.Const("\"\\u0000\""), Gen.Const("\"x\\ty\""), Gen.Const("\"\u202Eevil\""), Gen.Const("\"😀😀😀\""),
        Gen.Const("\"" + new string('n', 31) + "\""), Gen.Const("\"" + new string('c', 1001) + "\""),
        Gen.Const("\"" + string.Concat(Enumerable.Repeat("😀", 600)) + "\""),
        Gen.String[Gen.Char.AlphaNumeric, 1, 40].Select(s => "\"" + s + "\""),
        Gen.Const("{}"), Gen.Const("[]"), Gen.Const("{\"html\":\"<b>\"}"), Gen.Const("[1,2,3]"));

    /// <summary>Nesting up to 40 deep: the parser allows 16.</summary>
    private static readonly Gen<string> Deep =
        Gen.Int[1, 40].SelectMany(depth => Gen.Bool.Select(arrays =>
            arrays ? new string('[', depth) + new string(']', depth) : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)));

    private static readonly Gen<string> Value = Gen.Frequency((8, Scalar), (1, Deep));

    /// <summary>A request as it should be, as ordered keys and JSON values.</summary>
    private static readonly Gen<List<(string Key, string Value)>> Request =
        Gen.Select(Gen.OneOf(Commands.Select(Gen.Const).ToArray()), Gen.ULong[0, 2000], Gen.String[Gen.Char.AlphaNumeric, 1, 20], Gen.Bool,
            (cmd, id, text, flag) =>
            {
                var fields = new List<(string, string)> { ("cmd", $"\"{cmd}\"") };
                var number = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
                switch (cmd)
                {
                    case "CRT_ACCOUNT_REQ":
                        fields.Add(("nickName", $"\"{text}\""));
                        if (flag)
                        {
                            fields.Add(("confirmReceipt", "true"));
                        }

                        break;
                    case "RECONNECT_REQ":
                        fields.Add(("accountId", number));
                        fields.Add(("token", $"\"{text}\""));
                        break;
                    case "MATCH_REQ":
                        fields.Add(("accountId", number));
                        break;
                    case "DIALOGUE_REQ":
                        fields.Add(("requestId", $"\"{text}\""));
                        fields.Add(("senderId", number));
                        fields.Add(("sessionId", number));
                        fields.Add(("content", $"\"{text} {text}\""));
                        break;
                    case "PUSH_DIALOGUE_RESP":
                        fields.Add(("code", "0"));
                        fields.Add(("sessionId", number));
                        fields.Add(("msgId", number));
                        break;
                    case "VIEWED_ACK_REQ":
                        fields.Add(("sessionId", number));
                        fields.Add(("accountId", number));
                        fields.Add(("msgId", number));
                        break;
                    case "END_SESSION_REQ":
                    case "TYPING_REQ":
                        fields.Add(("sessionId", number));
                        break;
                    case "PING_REQ":
                    case "PING_RESP":
                        fields.Add(("accountId", number));
                        break;
                }

                return fields;
            });

    private enum Mutation
    {
        None,
        WrongType,
        DuplicateKey,
        KeyCase,
        EscapedKey,
        UnknownKey,
        DropKey,
        CommandCase,
    }

    private static readonly Gen<List<(string Key, string Value)>> MutatedRequest =
        Gen.Select(Request, Gen.Enum<Mutation>().Array[0, 4], Gen.Int[0, 100].Array[4], Value.Array[4],
            (fields, mutations, picks, values) =>
            {
                for (var i = 0; i < mutations.Length; i++)
                {
                    var at = picks[i] % fields.Count;
                    var (key, value) = fields[at];
                    switch (mutations[i])
                    {
                        case Mutation.WrongType:
                            fields[at] = (key, values[i]);
                            break;
                        case Mutation.DuplicateKey:
                            fields.Insert(picks[(i + 1) % 4] % (fields.Count + 1), (key, values[i]));
                            break;
                        case Mutation.KeyCase:
                            fields[at] = (picks[(i + 1) % 4] % 2 == 0 ? key.ToUpperInvariant() : key.ToLowerInvariant(), value);
                            break;
                        case Mutation.EscapedKey:
                            // Every character escaped when the pick is even: "confirmReceipt" is then 84 bytes long.
                            fields[at] = (string.Concat(key.Select((c, n) => (picks[(i + 1) % 4] % 2 == 0 || n % 2 == 0) ? $"\\u{(int)c:x4}" : c.ToString())), value);
                            break;
                        case Mutation.UnknownKey:
                            fields.Insert(at, (KnownKeys[picks[(i + 1) % 4] % KnownKeys.Length] + "x", values[i]));
                            break;
                        case Mutation.DropKey:
                            fields.RemoveAt(at);
                            if (fields.Count == 0)
                            {
                                fields.Add(("cmd", "\"STATS_REQ\""));
                            }

                            break;
                        case Mutation.CommandCase:
                            fields[0] = (fields[0].Key, fields[0].Value.ToLowerInvariant());
                            break;
                    }
                }

                return fields;
            });

    private static string Render(List<(string Key, string Value)> fields) =>
        "{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";

    private static readonly Gen<string> Object = MutatedRequest.Select(Render);

    /// <summary>Not quite an object: cut short, junk around it, bytes changed, or something else entirely.</summary>
    private static readonly Gen<string> Broken = Gen.OneOf(
        Gen.Select(Object, Gen.Int[0, 1000], (json, cut) => json[..(cut % json.Length)]),
        Gen.Select(Object, Gen.OneOf(Gen.Const("{}"), Gen.Const(" x"), Gen.Const(","), Gen.Const("\u00a0")), (json, junk) => json + junk),
        Gen.Select(Object, Gen.Int[0, 1000], Gen.Char["{}[]\":,\\ 0aé\t"], (json, at, c) => json.Insert(at % json.Length, c.ToString())),
        Gen.Select(Object, Gen.Int[0, 1000], (json, at) => json.Remove(at % json.Length, 1)),
        Value,
        Gen.String[Gen.Char, 0, 60].Select(s => s.Replace('\uD800', 'x')),
        Gen.Const("\uFEFF{\"cmd\":\"STATS_REQ\"}"),
        Gen.Const("{\"cmd\":\"STATS_REQ\",}"),
        Gen.Const("{\"cmd\":\"STATS_REQ\" /* c */}"),
        Gen.Const("{'cmd':'STATS_REQ'}"),
        Gen.Const(""));

    /// <summary>One text frame's payload: mostly objects, some broken.</summary>
    public static readonly Gen<byte[]> Payload =
        Gen.Frequency((6, Object), (2, Broken)).Select(text => Encoding.UTF8.GetBytes(ReplaceLoneSurrogates(text)));

    // Only escaped surrogates are hostile JSON; a raw lone one cannot even be encoded as UTF-8.
    private static string ReplaceLoneSurrogates(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(text[i]).Append(text[++i]);
            }
            else
            {
                builder.Append(char.IsSurrogate(text[i]) ? '?' : text[i]);
            }
        }

        return builder.ToString();
    }
}
