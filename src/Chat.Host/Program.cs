using Chat.Host;

if (CommandLine.WantsHelp(args))
{
    Console.Out.Write(CommandLine.HelpText);
    return 0;
}

if (args is ["admin-token", ..])
{
    return CommandLine.PrintAdminToken(args[1..], Console.Out, Console.Error);
}

if (CommandLine.UnknownRole(args) is { } role)
{
    Console.Error.WriteLine($"chat: unknown role '{role}'. Run 'chat --help'.");
    return 2;
}

WebApplication app;
try
{
    app = await ChatApp.StartAsync(CommandLine.RoleOf(args), CommandLine.WithoutRole(args));
}
catch (Exception ex) when (CommandLine.Refusal(ex) is { } refusal)
{
    // A setting that is wrong or missing, a file that cannot be read, a port that is taken: the
    // operator needs the one line that names it, not a stack trace and a core dump.
    Console.Error.WriteLine($"chat: cannot start: {refusal}");
    return 1;
}

await using (app)
{
    await app.WaitForShutdownAsync();
}

return 0;
