namespace Chat.Logic.Filtering;

/// <summary>
/// One rule a message must pass before it is stored (docs/logic.md, "The message filter"). The
/// session grain asks <see cref="MessageFilters"/> once per message, before the message has an id;
/// a refused message is answered DIALOGUE_RESP code 1 with the verdict's text, and nothing of it is
/// stored or delivered. A filter that needs no I/O answers synchronously (a completed ValueTask).
/// </summary>
internal interface IMessageFilter
{
    /// <summary>The filter's name in <c>chat_messages_filtered_total{filter}</c>.</summary>
    string Name { get; }

    ValueTask<FilterVerdict> CheckAsync(FilteredMessage message, CancellationToken cancellationToken);
}

/// <summary>A message on its way to the store.</summary>
/// <param name="SenderMessages">How many messages this sender has stored in this session before this one (0: its first).</param>
internal readonly record struct FilteredMessage(ulong SessionId, ulong SenderId, string Content, int SenderMessages);

/// <summary>Pass, or refuse with a text for the sender (<see cref="Message"/>, shown beside the refused message).</summary>
internal readonly record struct FilterVerdict(bool Refused, string? Message = null, string? Filter = null)
{
    public static FilterVerdict Pass => default;

    public static FilterVerdict Refuse(string message) => new(true, message);
}
