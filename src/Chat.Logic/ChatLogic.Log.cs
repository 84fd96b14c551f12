using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;

namespace Chat.Logic;

public sealed partial class ChatLogic
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Logic started: {Sessions} active sessions of {Accounts} accounts carried over; their accounts are away until they reconnect.")]
        public static partial void Started(ILogger logger, int sessions, int accounts);

        [LoggerMessage(2, LogLevel.Debug, "Account {AccountId} created on {Endpoint}.")]
        public static partial void AccountCreated(ILogger logger, ulong accountId, ClientEndpoint endpoint);

        [LoggerMessage(3, LogLevel.Debug, "Account {AccountId} bound to {Endpoint} (was away: {WasAway}, {Sessions} sessions).")]
        public static partial void Reconnected(ILogger logger, ulong accountId, ClientEndpoint endpoint, bool wasAway, int sessions);

        [LoggerMessage(4, LogLevel.Debug, "Account {AccountId} left {Endpoint} ({How}).")]
        public static partial void LoggedOut(ILogger logger, ulong accountId, ClientEndpoint endpoint, LeaveKind how);

        [LoggerMessage(5, LogLevel.Debug, "Session {SessionId} started between {WaitingId} and {CallerId}.")]
        public static partial void Matched(ILogger logger, ulong sessionId, ulong waitingId, ulong callerId);

        [LoggerMessage(6, LogLevel.Debug, "Session {SessionId} ended by {AccountId}.")]
        public static partial void SessionEnded(ILogger logger, ulong sessionId, ulong accountId);

        [LoggerMessage(7, LogLevel.Debug, "Grace period of account {AccountId} ran out; {Sessions} sessions end.")]
        public static partial void GraceExpired(ILogger logger, ulong accountId, int sessions);

        [LoggerMessage(8, LogLevel.Debug, "Account {AccountId} resumed on {Endpoint}; {Replayed} messages replayed.")]
        public static partial void Resumed(ILogger logger, ulong accountId, ClientEndpoint endpoint, int replayed);

        [LoggerMessage(9, LogLevel.Error, "Store write in {Operation} failed.")]
        public static partial void StoreFailed(ILogger logger, string operation, Exception exception);

        [LoggerMessage(10, LogLevel.Warning, "A push failed.")]
        public static partial void PushFailed(ILogger logger, Exception exception);
    }
}
