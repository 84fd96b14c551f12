using Chat.Relay;

// Socket completions run on the runtime's event threads, so with Kestrel's inline scheduling a
// frame is read, answered and sent on one thread (read once, at the first socket: set it first).
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// chat-relay PORT: the calibration reference for the bench (see docs/benchmarks.md).
var port = args.Length > 0 && int.TryParse(args[0], out var p) ? p : 18300;
var app = RelayApp.Build(port);
await app.RunAsync();
