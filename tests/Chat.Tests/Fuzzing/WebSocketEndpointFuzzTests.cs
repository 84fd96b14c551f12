using System.Diagnostics;
using System.Globalization;
using Chat.Broker.Connections;
using Chat.Tests.Infrastructure;
using Chat.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Chat.Tests.Fuzzing;

/// <summary>Alone: the test measures the managed heap of this process, which other tests' servers would move.</summary>
[CollectionDefinition(nameof(WebSocketEndpointFuzzTests), DisableParallelization = true)]
public sealed class WebSocketEndpointFuzzCollection;

/// <summary>
/// The whole endpoint against hostile bytes over real sockets to a real Kestrel: generated and
/// mutated JSON, frames that break RFC 6455, frames over the limits, slow upgrades, a frame a byte
/// a second. CI runs a short budget; <c>CHAT_FUZZ_FRAMES</c> and <c>CHAT_FUZZ_SECONDS</c> make it the
/// long bench run (bench/run.sh --fuzz), <c>CHAT_FUZZ_SEED</c> replays one.
/// </summary>
[Collection(nameof(WebSocketEndpointFuzzTests))]
public sealed class WebSocketEndpointFuzzTests(ITestOutputHelper output)
{
    private static readonly long FrameBudget = long.Parse(Environment.GetEnvironmentVariable("CHAT_FUZZ_FRAMES") ?? "150000", CultureInfo.InvariantCulture);
    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("CHAT_FUZZ_SECONDS") ?? "25", CultureInfo.InvariantCulture));

    private const int DirectoryCacheSize = 1_000;

    /// <summary>Kestrel's RequestHeadersTimeout (its default, which the server keeps).</summary>
    private static readonly TimeSpan HeadersTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Fuzzed_frames_get_the_documented_answers_without_errors_or_harm_to_others_or_a_grown_heap()
    {
        var seed = Environment.GetEnvironmentVariable("CHAT_FUZZ_SEED") ?? Random.Shared.NextInt64().ToString("x", CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed} (CHAT_FUZZ_SEED={seed} replays it), budget {FrameBudget:N0} frames or {TimeBudget.TotalSeconds:0} s");
        var log = new CapturedLog();
        await using var server = await ChatServer.StartWithServicesAsync(
            services => services.AddSingleton<ILoggerProvider>(log),
            // The per-socket rate limit would answer most fuzz frames with code 5: raised out of the way.
            "Chat:Broker:RateLimit:PerSecond=10000000",
            "Chat:Broker:RateLimit:Burst=10000000",
            // Orleans' directory cache keeps an entry for every grain ever activated (the fuzzer's random
            // ids included) up to its bound: small here, and filled before the heap is first measured.
            $"Chat:Silo:DirectoryCacheSize={DirectoryCacheSize}");
        await using var pair = await ChattingPair.StartAsync(server);
        using var stop = new CancellationTokenSource(TimeBudget + TimeSpan.FromSeconds(60));

        // Warm up (JIT, pools, the store's first pages), then the heap everything is measured against.
        await new EndpointFuzzer(server.WebSocketUri, new FuzzTally()).RunAsync(2_000, TimeSpan.FromSeconds(10), workers: 2, seed, stop.Token);
        await FillDirectoryCacheAsync(server, stop.Token);
        await QuietAsync(server, stop.Token);
        var before = HeapAfterFullCollection();
        var beforeInfo = Generations();

        var clock = Stopwatch.StartNew();
        var slowUpgrades = Enumerable.Range(0, 20)
            .Select(_ => SlowClients.SlowUpgradeAsync(server.WebSocketUri, TimeSpan.FromMilliseconds(500), HeadersTimeout + TimeSpan.FromSeconds(15), stop.Token)).ToArray();
        var bytePerSecond = Enumerable.Range(0, 5)
            .Select(_ => SlowClients.FrameByteByByteAsync(server.WebSocketUri, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), stop.Token)).ToArray();
        using var fuzzing = new CancellationTokenSource();
        var chatting = KeepChattingAsync(pair, fuzzing.Token);

        var tally = new FuzzTally();
        await new EndpointFuzzer(server.WebSocketUri, tally).RunAsync(FrameBudget, TimeBudget, workers: 4, seed, stop.Token);
        var fuzzed = clock.Elapsed;
        await fuzzing.CancelAsync();
        var rounds = await chatting;
        var upgrades = await Task.WhenAll(slowUpgrades);
        var slowFrames = await Task.WhenAll(bytePerSecond);
        await pair.AssertStillChattingAsync();

        await QuietAsync(server, stop.Token);
        var after = HeapAfterFullCollection();
        output.WriteLine($"heap by generation (gen0, gen1, gen2, LOH, POH), KiB: before {beforeInfo}, after {Generations()}");
        var slowest = upgrades.Max();
        output.WriteLine($"{tally} in {fuzzed.TotalSeconds:0.0} s; the pair chatted {rounds} rounds alongside");
        output.WriteLine($"slow upgrades ended after {upgrades.Min()?.TotalSeconds:0.0}-{slowest?.TotalSeconds:0.0} s; frames a byte a second closed with {string.Join(",", slowFrames.Select(f => $"{f.Status}@{f.After?.TotalSeconds:0}s"))}");
        output.WriteLine($"managed heap after a full GC: {before / 1024.0 / 1024:0.0} MiB before, {after / 1024.0 / 1024:0.0} MiB after ({(after - before) * 100.0 / before:+0.0;-0.0} %)");
        output.WriteLine($"server log: {log.Entries.Count} warnings or worse, {log.Errors.Count} errors");
        foreach (var entry in log.Entries.Take(20))
        {
            output.WriteLine($"  {entry}");
        }

        Assert.True(tally.WrongAnswers.IsEmpty, $"answers that break docs/protocol.md:\n{string.Join("\n", tally.WrongAnswers.Take(10))}");
        Assert.Empty(log.Errors);
        Assert.All(upgrades, ended => Assert.True(ended is not null, "a slow upgrade was still open after Kestrel's header timeout"));
        Assert.All(slowFrames, f => Assert.Equal((ushort?)1008, f.Status));
        Assert.True(after <= before * 1.10, $"the heap grew from {before:N0} to {after:N0} bytes");
    }

    /// <summary>Activates more grains than the directory cache holds: typing hints into sessions that do not exist.</summary>
    private static async Task FillDirectoryCacheAsync(ChatServer server, CancellationToken cancellationToken)
    {
        await using var typist = await server.NewVisitorAsync("typist");
        for (var i = 0; i < DirectoryCacheSize * 3 / 2; i++)
        {
            await typist.SendAsync(new { cmd = "TYPING_REQ", sessionId = 1_000_000_000UL + (ulong)i });
        }

        await typist.BarrierAsync();
        await typist.CloseAsync();
        await QuietAsync(server, cancellationToken);
    }

    /// <summary>The pair chats until the fuzzing is done; how many rounds it managed.</summary>
    private static async Task<int> KeepChattingAsync(ChattingPair pair, CancellationToken fuzzing)
    {
        // Paced (20 rounds a second): flat out, the pair's own history would be most of what the heap gains.
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        var rounds = 0;
        while (!fuzzing.IsCancellationRequested && await pace.WaitForNextTickAsync(CancellationToken.None))
        {
            await pair.AssertStillChattingAsync();
            rounds++;
        }

        return rounds;
    }

    /// <summary>Waits until only the chatting pair's sockets are left on the server.</summary>
    private static async Task QuietAsync(ChatServer server, CancellationToken cancellationToken)
    {
        var registry = server.Get<ConnectionRegistry>();
        while (registry.Count > 2)
        {
            await Task.Delay(50, cancellationToken);
        }
    }

    private static string Generations() =>
        string.Join(", ", GC.GetGCMemoryInfo(GCKind.Any).GenerationInfo.ToArray().Select(g => (g.SizeAfterBytes / 1024).ToString(CultureInfo.InvariantCulture)));

    private static long HeapAfterFullCollection()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
