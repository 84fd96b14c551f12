using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.FileProviders.Physical;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Chat.Logic.Filtering;

/// <summary>
/// Refuses a message that contains an entry of the operator's word list (<c>Chat:Filter:Words:File</c>).
/// The file is read at start (a list that cannot be read or compiled stops the start) and again each
/// time it changes (a watch on its folder); a changed list that does not compile is refused with a log
/// line naming the line, and the last good list stays in force.
/// </summary>
internal sealed partial class WordListFilter : IMessageFilter, IDisposable
{
    public const string FilterName = "words";

    private readonly WordListOptions _options;
    private readonly ILogger<WordListFilter> _logger;
    private readonly Lock _reloading = new();
    private readonly PhysicalFileProvider? _folder;
    private readonly IDisposable? _watch;
    private readonly string? _path;
    private WordList _list = WordList.Empty;

    public WordListFilter(IOptions<FilterOptions> options, ILogger<WordListFilter> logger)
    {
        _options = options.Value.Words;
        _logger = logger;
        if (string.IsNullOrEmpty(_options.File))
        {
            return;
        }

        _path = Path.GetFullPath(_options.File);
        _folder = new PhysicalFileProvider(Path.GetDirectoryName(_path)!, ExclusionFilters.None);
        var name = Path.GetFileName(_path);
        _watch = ChangeToken.OnChange(() => _folder.Watch(name), Reload); // watching before the first read: no change is missed
        Reload();
    }

    /// <summary>After each read of the file, with the list now in force (the old one if the file did not compile).</summary>
    public event Action<WordList>? Reloaded;

    public string Name => FilterName;

    /// <summary>The list in force.</summary>
    public WordList List => Volatile.Read(ref _list);

    public ValueTask<FilterVerdict> CheckAsync(FilteredMessage message, CancellationToken cancellationToken) =>
        new(List.Matches(message.Content) ? FilterVerdict.Refuse(_options.Message) : FilterVerdict.Pass);

    public void Dispose()
    {
        _watch?.Dispose();
        _folder?.Dispose();
    }

    private void Reload()
    {
        WordList list;
        lock (_reloading)
        {
            if (WordList.TryRead(_path!, out var read) is { } problem)
            {
                Log.NotReloaded(_logger, problem);
                list = List;
            }
            else
            {
                Volatile.Write(ref _list, read);
                Log.Reloaded(_logger, _path!, read.Entries);
                list = read;
            }
        }

        Reloaded?.Invoke(list);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Word list {Path} read: {Entries} entries.")]
        public static partial void Reloaded(ILogger logger, string path, int entries);

        [LoggerMessage(2, LogLevel.Error, "The word list was not read again, the last one read stays in force: {Problem}")]
        public static partial void NotReloaded(ILogger logger, string problem);
    }
}
