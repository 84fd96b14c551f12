using System.Text.Json;
using Chat.Bench;
using Chat.Bench.Reporting;
using Chat.Bench.Scenarios;

const string Usage = """
    usage: Chat.Bench <scenario> --url ws://127.0.0.1:PORT/ws[,ws://…] [options] [--server-pid PID[,PID…]] [--store-pid PID] [--json FILE|-]

      chat         --pairs 100 --messages 1000 [--window 1] | --rate 10 --duration 30   [--warmup 2] [--size 64] [--drain 10] [--retry-refused]
      crowd        --visitors 200 --interval 5 --typing-lead 1 --duration 30 --warmup 10 [--size 64] [--drain 30] [--seed 1]   (people at a human pace; --sources at least 200 by default)
      idle         --connections 1000 --hold 10 [--ready-file FILE] [--until-file FILE] (the first written once all have arrived; the hold ends once the second exists)
      match-storm  --visitors 1000 [--interests 3 --tags 500] (interests drawn with Zipf weights, s = 1) [--warmup 2000] (an unmeasured storm of that many first)
      resume       --pairs 20 --drops 10 --rate 5 --before 2 --away 2 --after 3

    common: --sources 4 (source addresses 127.0.0.2.., up to 16,777,214 of them) --concurrency 64 (connects at a time)
    several --url (the brokers of a cluster): visitors connect to each in turn; several --server-pid: their CPU and memory are summed
    """;

// Socket completions run on the runtime's event threads instead of a hop through the thread pool:
// the bench's receive loops only parse, count and record (and at most send), never block. It cut
// the bench's CPU per message by 5-12 % in the open loop, leaving more of the shared cores to the
// server under test (docs/benchmarks.md). Read once, when the first socket is made: set it first.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

BenchArguments arguments;
try
{
    arguments = new BenchArguments(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}

if (arguments.Scenario is "" or "help" || arguments.Text("url") is not { } url)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

Uri[] servers = [.. url.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(u => new Uri(u))];
var server = servers[0];
var serverPid = arguments.OptionalInts("server-pid");
var sources = arguments.Int("sources", 4);
var concurrency = arguments.Int("concurrency", 64);
var json = arguments.Text("json");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

Func<Task<(string Text, string Json, bool Ok)>>? run = arguments.Scenario switch
{
    "chat" => async () =>
    {
        var options = new ChatOptions
        {
            Server = server,
            MoreServers = servers[1..],
            Pairs = arguments.Int("pairs", 100),
            Messages = arguments.Long("messages", arguments.Text("duration") is null ? 1000 : 0),
            Duration = arguments.OptionalSeconds("duration"),
            Rate = arguments.Double("rate", 0),
            Window = arguments.Int("window", 1),
            Warmup = arguments.Seconds("warmup", 0),
            ContentBytes = arguments.Int("size", 64),
            SourceAddresses = sources,
            ConnectConcurrency = concurrency,
            ServerPids = serverPid,
            StorePid = arguments.OptionalInt("store-pid"),
            Drain = arguments.Seconds("drain", 10),
            RetryRefused = arguments.Flag("retry-refused"),
        };
        var r = await ChatScenario.RunAsync(options, stop.Token);
        return (Summary.Of(r), JsonSerializer.Serialize(r, ResultJsonContext.Default.ChatResult), r.Clean);
    },
    "crowd" => async () =>
    {
        var r = await CrowdScenario.RunAsync(new CrowdOptions
        {
            Server = server,
            MoreServers = servers[1..],
            Visitors = arguments.Int("visitors", 200),
            MeanInterval = arguments.Seconds("interval", 5),
            TypingLead = arguments.Seconds("typing-lead", 1),
            Duration = arguments.Seconds("duration", 30),
            Warmup = arguments.Seconds("warmup", 10),
            ContentBytes = arguments.Int("size", 64),
            SourceAddresses = arguments.Int("sources", 200),
            ConnectConcurrency = concurrency,
            ServerPids = serverPid,
            StorePid = arguments.OptionalInt("store-pid"),
            Seed = arguments.Int("seed", 1),
            Drain = arguments.Seconds("drain", 30),
        }, stop.Token);
        return (Summary.Of(r), JsonSerializer.Serialize(r, ResultJsonContext.Default.CrowdResult), r.Clean);
    },
    "idle" => async () =>
    {
        var r = await IdleScenario.RunAsync(new IdleOptions
        {
            Server = server,
            Connections = arguments.Int("connections", 1000),
            Hold = arguments.Seconds("hold", 10),
            ReadyFile = arguments.Text("ready-file"),
            UntilFile = arguments.Text("until-file"),
            SourceAddresses = sources,
            ConnectConcurrency = concurrency,
            ServerPids = serverPid,
        }, stop.Token);
        return (Summary.Of(r), JsonSerializer.Serialize(r, ResultJsonContext.Default.IdleResult), r.OpenAtEnd == r.Connections);
    },
    "match-storm" => async () =>
    {
        var r = await MatchStormScenario.RunAsync(new MatchStormOptions
        {
            Server = server,
            MoreServers = servers[1..],
            Visitors = arguments.Int("visitors", 1000),
            SourceAddresses = sources,
            ConnectConcurrency = concurrency,
            ServerPids = serverPid,
            Interests = arguments.Int("interests", 0),
            Tags = arguments.Int("tags", 500),
            Warmup = arguments.Int("warmup", 0),
        }, stop.Token);
        return (Summary.Of(r), JsonSerializer.Serialize(r, ResultJsonContext.Default.MatchStormResult), r.Clean);
    },
    "resume" => async () =>
    {
        var r = await ResumeScenario.RunAsync(new ResumeOptions
        {
            Server = server,
            Pairs = arguments.Int("pairs", 20),
            Drops = arguments.Int("drops", 10),
            Rate = arguments.Double("rate", 5),
            Before = arguments.Seconds("before", 2),
            Away = arguments.Seconds("away", 2),
            After = arguments.Seconds("after", 3),
            SourceAddresses = sources,
        }, stop.Token);
        return (Summary.Of(r), JsonSerializer.Serialize(r, ResultJsonContext.Default.ResumeResult), r.Lost == 0 && r.Duplicated == 0 && r.Misrouted == 0);
    },
    _ => null,
};

if (run is null)
{
    Console.Error.WriteLine($"unknown scenario '{arguments.Scenario}'");
    Console.Error.WriteLine(Usage);
    return 2;
}

var (text, report, ok) = await run();
foreach (var name in arguments.Unread)
{
    Console.Error.WriteLine($"warning: option --{name} is not used by '{arguments.Scenario}'");
}

Console.WriteLine(text);
if (json == "-")
{
    Console.WriteLine(report);
}
else if (json is not null)
{
    await File.WriteAllTextAsync(json, report);
}

return ok ? 0 : 1;
