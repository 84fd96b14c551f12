using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Chat.Tests.Diagnostics;
using static Chat.Tests.Infrastructure.Exposition;

namespace Chat.Tests.Abuse;

/// <summary>
/// Nothing the limits keep grows without bound: an address that went quiet costs nothing after a
/// while, however many came. Runs with the metrics tests (alone): it listens to a process-wide meter.
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class ForgettingTests
{
    private const int Addresses = 100_000;

    [Fact]
    public async Task A_hundred_thousand_addresses_are_tracked_then_forgotten_once_they_went_quiet()
    {
        // The default limits, on the memory store (the 100,000 accounts are not what is measured).
        await using var server = await LimitedServer.StartAsync(
            "Chat:Store:Kind=memory",
            "Chat:Limits:AccountsPerMinute=10", "Chat:Limits:AccountsBurst=20", "Chat:Limits:SocketsPerAddress=30",
            "Chat:Limits:Challenge:AfterAccounts=5", "Chat:Limits:SweepInterval=00:01:00");
        using var tracked = new TrackedAddresses();

        // Each address opens a socket, creates an account (which the address's buckets remember for
        // a few seconds) and leaves, a few at a time.
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            for (var n = Interlocked.Increment(ref next); n < Addresses; n = Interlocked.Increment(ref next))
            {
                await VisitAsync(server.Server.WebSocketUri, $"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}");
            }
        })).WaitAsync(TimeSpan.FromMinutes(5));

        Assert.Equal(Addresses, tracked.Now);

        // The sweeper's next tick, once their buckets are full again, forgets them all.
        var forgotten = tracked.WhenNone();
        server.Clock.Advance(TimeSpan.FromMinutes(1));
        await forgotten.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, Value(await server.MetricsAsync(), "chat_abuse_tracked_addresses")); // what an operator sees
        Assert.Equal(0, server.Server.Get<Chat.Broker.Limits.AddressGate>().Addresses);
    }

    private static async Task VisitAsync(Uri server, string address)
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("X-Forwarded-For", address);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(server, timeout.Token);
        await socket.SendAsync("""{"cmd":"CRT_ACCOUNT_REQ","nickName":"passer-by"}"""u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[1024];
        var received = await socket.ReceiveAsync(buffer, timeout.Token);
        using var answer = JsonDocument.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count));
        Assert.Equal(0, answer.RootElement.GetProperty("code").GetInt32());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
    }

    /// <summary>The address shards' gauge, followed measurement by measurement.</summary>
    private sealed class TrackedAddresses : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _now;
        private TaskCompletionSource? _none;

        public TrackedAddresses()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Chat.Logic" && instrument.Name == "chat.abuse.tracked_addresses")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, delta, _, _) =>
            {
                if (Interlocked.Add(ref _now, delta) == 0)
                {
                    Volatile.Read(ref _none)?.TrySetResult();
                }
            });
            _listener.Start();
        }

        public long Now => Interlocked.Read(ref _now);

        /// <summary>Completes when no address is tracked any more (from now on).</summary>
        public Task WhenNone()
        {
            var none = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _none, none);
            if (Now == 0)
            {
                none.TrySetResult();
            }

            return none.Task;
        }

        public void Dispose() => _listener.Dispose();
    }
}
