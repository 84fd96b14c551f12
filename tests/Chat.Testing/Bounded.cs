namespace Chat.Testing;

/// <summary>Awaits that give up after a limit and say what they were waiting for.</summary>
public static class Bounded
{
    public static async Task Within(this Task task, TimeSpan limit, string what)
    {
        try
        {
            await task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what}: not done within {limit.TotalSeconds:0.#} s");
        }
    }

    public static async Task<T> Within<T>(this Task<T> task, TimeSpan limit, string what)
    {
        try
        {
            return await task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what}: not done within {limit.TotalSeconds:0.#} s");
        }
    }

    public static Task Within(this ValueTask task, TimeSpan limit, string what) => task.AsTask().Within(limit, what);
}
