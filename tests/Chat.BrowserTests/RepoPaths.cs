namespace Chat.BrowserTests;

/// <summary>Paths in the repository, found from the test binaries by looking for chat.slnx.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string WebRoot => Path.Combine(Root, "src", "Chat.Host", "wwwroot");

    public static string Screenshots => Path.Combine(Root, "artifacts", "screenshots");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "chat.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("chat.slnx not found above " + AppContext.BaseDirectory);
    }
}
