using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Chat.Testing.Network;
using CsCheck;

namespace Chat.Tests.Fuzzing;

/// <summary>What one fuzz run tried and what it saw.</summary>
public sealed class FuzzTally
{
    private long _frames;
    private long _sockets;
    public ConcurrentQueue<string> WrongAnswers { get; } = new();
    public ConcurrentDictionary<string, int> Closes { get; } = new();

    public long Frames => Interlocked.Read(ref _frames);

    public long Sockets => Interlocked.Read(ref _sockets);

    public void Tried(int frames) => Interlocked.Add(ref _frames, frames);

    public void Opened() => Interlocked.Increment(ref _sockets);

    public void Wrong(string what)
    {
        if (WrongAnswers.Count < 50)
        {
            WrongAnswers.Enqueue(what);
        }
    }

    public override string ToString() =>
        $"{Frames:N0} frames on {Sockets:N0} sockets; closes: {string.Join(", ", Closes.OrderBy(c => c.Key).Select(c => $"{c.Key} x{c.Value}"))}";
}

/// <summary>
/// Drives the whole WebSocket endpoint of a running server with generated sockets: batches of
/// hostile JSON (with or without an account) whose every answer is checked against
/// <see cref="ExpectedAnswer"/>, and wire cases (<see cref="HostileWire"/>) whose close status is checked.
/// Workers run side by side until the frame budget or the time is used up.
/// </summary>
public sealed class EndpointFuzzer(Uri server, FuzzTally tally)
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(20);

    private sealed record JsonBatch(bool WithAccount, byte[][] Payloads)
    {
        public override string ToString() => $"{(WithAccount ? "with an account" : "no account")}: {string.Join(" | ", Payloads.Select(HostileWire.Describe))}";
    }

    private static readonly Gen<JsonBatch> Batch =
        Gen.Select(Gen.Frequency((1, Gen.Const(false)), (2, Gen.Const(true))), HostileJson.Payload.Array[1, 64], (account, payloads) => new JsonBatch(account, payloads));

    private static readonly Gen<object> Script = Gen.Frequency((9, Batch.Select(b => (object)b)), (1, HostileWire.Case.Select(c => (object)c)));

    public async Task RunAsync(long frameBudget, TimeSpan timeBudget, int workers, string seed, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var root = ulong.Parse(seed, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var pcg = new PCG((uint)worker, root);
            while (tally.Frames < frameBudget && clock.Elapsed < timeBudget && !cancellationToken.IsCancellationRequested)
            {
                var script = Script.Generate(pcg, null, out _);
                try
                {
                    switch (script)
                    {
                        case JsonBatch batch:
                            await RunBatchAsync(batch, cancellationToken);
                            break;
                        case WireCase wire:
                            await RunWireAsync(wire, cancellationToken);
                            break;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    tally.Wrong($"{script}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }, cancellationToken)));
    }

    private async Task RunBatchAsync(JsonBatch batch, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AnswerTimeout);
        var ct = timeout.Token;
        using var ws = await RawWebSocket.ConnectAsync(server, ct);
        tally.Opened();
        ulong accountId = 0;
        if (batch.WithAccount)
        {
            await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"CRT_ACCOUNT_REQ\",\"nickName\":\"fuzz\"}"u8), ct);
            var created = await NextAnswerAsync(ws, ct);
            accountId = created.RootElement.GetProperty("accountId").GetUInt64();
        }

        // All frames at once, then a STATS_REQ: its answer coming next shows no frame got a second answer.
        var writes = batch.Payloads.Select(p => RawWebSocket.Frame(WireOpcode.Text, p)).Append(RawWebSocket.Frame(WireOpcode.Text, "{\"cmd\":\"STATS_REQ\"}"u8));
        await ws.SendAsync(writes.SelectMany(w => w).ToArray(), ct);
        tally.Tried(batch.Payloads.Length + 1);
        foreach (var payload in batch.Payloads)
        {
            var expected = ExpectedAnswer.For(payload, accountId);
            if (expected.None)
            {
                continue;
            }

            using var answer = await NextAnswerAsync(ws, ct);
            var root = answer.RootElement;
            var cmd = root.GetProperty("cmd").GetString();
            int? code = root.TryGetProperty("code", out var c) ? c.GetInt32() : null;
            var codeOk = expected.NoCode ? code is null : code is { } got && expected.Codes.Contains(got);
            if (cmd != expected.Cmd || !codeOk)
            {
                tally.Wrong($"{HostileWire.Describe(payload)} ({(accountId == 0 ? "no account" : "with an account")}): got {root.GetRawText()}, expected {expected.Cmd} code {string.Join("/", expected.Codes)} ({expected.Why})");
                return; // the answers that follow are out of step
            }

            if (cmd == "CRT_ACCOUNT_RESP" && code == 0)
            {
                accountId = root.GetProperty("accountId").GetUInt64();
            }
        }

        using var stats = await NextAnswerAsync(ws, ct);
        if (stats.RootElement.GetProperty("cmd").GetString() != "STATS_RESP")
        {
            tally.Wrong($"{batch}: an answer too many: {stats.RootElement.GetRawText()}");
            return;
        }

        await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Close, RawWebSocket.ClosePayload(1000)), ct);
        Closed(await ws.ReceiveCloseAsync(ct));
    }

    private async Task RunWireAsync(WireCase wire, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AnswerTimeout);
        var ct = timeout.Token;
        using var ws = await RawWebSocket.ConnectAsync(server, ct);
        tally.Opened();
        await ws.SendAsync(wire.Writes.SelectMany(w => w).ToArray(), ct);
        tally.Tried(wire.Writes.Length);
        if (wire.Close is { } status)
        {
            var closed = await ws.ReceiveCloseAsync(ct);
            Closed(closed);
            if (closed != status)
            {
                tally.Wrong($"{wire}: closed with {closed?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no close frame"}");
            }

            return;
        }

        if (wire.Pong is { } ping)
        {
            var pong = await ws.ReceiveAsync(ct);
            if (pong is not { Opcode: WireOpcode.Pong } || !pong.Payload.AsSpan().SequenceEqual(ping))
            {
                tally.Wrong($"{wire}: no pong with the ping's payload but {pong?.Opcode.ToString() ?? "the end"}");
                return;
            }
        }

        using var stats = await NextAnswerAsync(ws, ct);
        if (stats.RootElement.GetProperty("cmd").GetString() != "STATS_RESP")
        {
            tally.Wrong($"{wire}: {stats.RootElement.GetRawText()} instead of STATS_RESP");
        }

        await ws.SendAsync(RawWebSocket.Frame(WireOpcode.Close, RawWebSocket.ClosePayload(1000)), ct);
        Closed(await ws.ReceiveCloseAsync(ct));
    }

    private void Closed(ushort? status) => tally.Closes.AddOrUpdate(status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", 1, (_, n) => n + 1);

    /// <summary>The next answer to a request: the server's own pushes and pings are passed over.</summary>
    private static async Task<JsonDocument> NextAnswerAsync(RawWebSocket ws, CancellationToken ct)
    {
        while (true)
        {
            var frame = await ws.ReceiveAsync(ct) ?? throw new IOException("the server dropped the connection");
            switch (frame.Opcode)
            {
                case WireOpcode.Text:
                    var json = JsonDocument.Parse(frame.Payload);
                    var cmd = json.RootElement.GetProperty("cmd").GetString()!;
                    if (cmd == "PING_REQ" || cmd.StartsWith("PUSH_", StringComparison.Ordinal))
                    {
                        json.Dispose();
                        continue;
                    }

                    return json;
                case WireOpcode.Close:
                    throw new IOException($"the server closed the socket with {frame.CloseStatus}: {Encoding.UTF8.GetString(frame.Payload.AsSpan(Math.Min(2, frame.Payload.Length)))}");
                case WireOpcode.Pong:
                    continue;
                default:
                    throw new IOException($"the server sent a {frame.Opcode} frame");
            }
        }
    }
}
