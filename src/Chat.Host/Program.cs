using Chat.Host;

if (CommandLine.WantsHelp(args))
{
    Console.Out.Write(CommandLine.HelpText);
    return 0;
}

if (CommandLine.UnknownRole(args) is { } role)
{
    Console.Error.WriteLine($"chat: unknown role '{role}'. Run 'chat --help'.");
    return 2;
}

await using var app = await ChatApp.StartAsync(CommandLine.RoleOf(args), CommandLine.WithoutRole(args));
await app.WaitForShutdownAsync();
return 0;
