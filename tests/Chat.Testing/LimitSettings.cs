namespace Chat.Testing;

/// <summary>
/// The per-address and per-account limits in test settings. Tests that are not about them run with
/// them off: every test visitor comes from 127.0.0.1, which the defaults would soon treat as a crowd.
/// </summary>
public static class LimitSettings
{
    /// <summary>Every limit and the challenge off (each limit is off at 0).</summary>
    public static readonly string[] Off =
    [
        "Chat:Limits:AccountsPerMinute=0",
        "Chat:Limits:SocketsPerAddress=0",
        "Chat:Limits:WaitingPerAddress=0",
        "Chat:Limits:MatchesPerMinute=0",
        "Chat:Limits:ReportsPerHour=0",
        "Chat:Limits:FailedReconnectsPerMinute=0",
        "Chat:Limits:Challenge:AfterAccounts=0",
        "Chat:Limits:Challenge:Always=false",
        "Chat:Limits:Challenge:AfterMatches=0",
    ];

    /// <summary>The limits as shipped (appsettings.json), for a test that runs with them on.</summary>
    public static readonly string[] Shipped =
    [
        "Chat:Limits:AccountsPerMinute=10",
        "Chat:Limits:AccountsBurst=20",
        "Chat:Limits:SocketsPerAddress=30",
        "Chat:Limits:WaitingPerAddress=3",
        "Chat:Limits:MatchesPerMinute=20",
        "Chat:Limits:ReportsPerHour=20",
        "Chat:Limits:FailedReconnectsPerMinute=10",
        "Chat:Limits:FailedReconnectsBurst=20",
        "Chat:Limits:Challenge:AfterAccounts=5",
        "Chat:Limits:Challenge:AfterMatches=10",
    ];
}
