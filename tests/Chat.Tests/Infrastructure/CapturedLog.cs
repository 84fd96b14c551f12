using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Chat.Tests.Infrastructure;

/// <summary>A logger provider that keeps what the server logs (at the levels its filters let through), for tests to read.</summary>
public sealed class CapturedLog : ILoggerProvider
{
    public sealed record Entry(LogLevel Level, string Category, EventId EventId, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}[{EventId.Id}]: {Message}{(Exception is null ? "" : $" {Exception.GetType().Name}: {Exception.Message}")}";
    }

    private const int MaxEntries = 10_000;

    public ConcurrentQueue<Entry> Entries { get; } = new();

    /// <summary>Entries at <see cref="LogLevel.Error"/> or above: what an operator would be paged for.</summary>
    public IReadOnlyList<Entry> Errors => [.. Entries.Where(e => e.Level >= LogLevel.Error)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Bounded, so a flood of warnings cannot grow the heap of a test that measures it; errors are always kept.
            if (log.Entries.Count < MaxEntries || logLevel >= LogLevel.Error)
            {
                log.Entries.Enqueue(new Entry(logLevel, category, eventId, formatter(state, exception), exception));
            }
        }
    }
}
