using Chat.Relay;

// Socket completions run on the runtime's event threads, so with Kestrel's inline scheduling a
// frame is read, answered and sent on one thread (read once, at the first socket: set it first).
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// chat-relay PORT [PING_SECONDS]: the calibration reference for the bench (see docs/benchmarks.md);
// PING_SECONDS is the heartbeat's interval, the server's 3 by default, 0 for none.
var port = args.Length > 0 && int.TryParse(args[0], out var p) ? p : 18300;
var ping = args.Length > 1 && double.TryParse(args[1], System.Globalization.CultureInfo.InvariantCulture, out var s) ? TimeSpan.FromSeconds(s) : RelayApp.DefaultPingInterval;
var app = RelayApp.Build(port, pingInterval: ping);
await app.RunAsync();
