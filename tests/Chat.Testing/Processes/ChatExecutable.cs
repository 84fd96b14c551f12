namespace Chat.Testing.Processes;

/// <summary>The `chat` executable beside the tests (tests reference src/Chat.Host), run by the dotnet that runs them.</summary>
public static class ChatExecutable
{
    /// <summary>The dotnet the SDK runs the tests with, so a child runs on the same runtime.</summary>
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path ? path : "dotnet";

    public static string Dll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "chat.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("chat.dll is not beside the tests: reference src/Chat.Host", path);
        }
    }
}
