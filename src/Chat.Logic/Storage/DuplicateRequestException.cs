namespace Chat.Logic.Storage;

/// <summary>A message with the same sender and requestId is already stored (a retried send).</summary>
public sealed class DuplicateRequestException(ulong senderId, string requestId, Exception? inner = null)
    : Exception($"Sender {senderId} already stored request '{requestId}'.", inner)
{
    public ulong SenderId { get; } = senderId;

    public string RequestId { get; } = requestId;
}
