using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>One operator signed in to the page: who, the anti-forgery token every action must carry, until when.</summary>
public sealed record OperatorSession(string Name, string Csrf, DateTimeOffset Until);

/// <summary>
/// The operator page's sign-ins, kept in this process only (the cookie carries a random id, nothing
/// else; a restart signs everybody out). Each lasts <see cref="OperatorOptions.SessionLifetime"/>; at
/// most <see cref="MostSessions"/> are kept, the oldest forgotten first, so nothing grows without bound.
/// Ids are looked up by their SHA-256, so the lookup's timing says nothing about a guessed id.
/// </summary>
public sealed class OperatorSessions(IOptions<OperatorOptions> options, TimeProvider time)
{
    public const int MostSessions = 100;

    private readonly ConcurrentDictionary<string, OperatorSession> _sessions = new(StringComparer.Ordinal);

    public TimeSpan Lifetime => options.Value.SessionLifetime;

    /// <summary>A new session for <paramref name="name"/>: the cookie's value and the session.</summary>
    public (string Id, OperatorSession Session) Open(string name)
    {
        var now = time.GetUtcNow();
        foreach (var (key, old) in _sessions)
        {
            if (old.Until <= now)
            {
                _sessions.TryRemove(key, out _);
            }
        }

        while (_sessions.Count >= MostSessions && _sessions.MinBy(s => s.Value.Until) is { Key: { } oldest })
        {
            _sessions.TryRemove(oldest, out _);
        }

        var id = NewSecret();
        var session = new OperatorSession(name, NewSecret(), now + Lifetime);
        _sessions[KeyOf(id)] = session;
        return (id, session);
    }

    /// <summary>The session this cookie value opened, or null when there is none or it has ended.</summary>
    public OperatorSession? Find(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 100 || !_sessions.TryGetValue(KeyOf(id), out var session))
        {
            return null;
        }

        if (session.Until <= time.GetUtcNow())
        {
            _sessions.TryRemove(KeyOf(id), out _);
            return null;
        }

        return session;
    }

    public void Close(string? id)
    {
        if (!string.IsNullOrEmpty(id))
        {
            _sessions.TryRemove(KeyOf(id), out _);
        }
    }

    /// <summary>Whether <paramref name="sent"/> is the session's anti-forgery token (compared in constant time).</summary>
    public static bool IsCsrf(OperatorSession session, string? sent) =>
        sent is { Length: > 0 } && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(session.Csrf), Encoding.UTF8.GetBytes(sent));

    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string KeyOf(string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}
