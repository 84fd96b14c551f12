using Chat.Relay;

// chat-relay PORT: the calibration reference for the bench (see docs/benchmarks.md).
var port = args.Length > 0 && int.TryParse(args[0], out var p) ? p : 18300;
var app = RelayApp.Build(port);
await app.RunAsync();
