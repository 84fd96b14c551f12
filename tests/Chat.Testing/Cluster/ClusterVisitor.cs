using System.Threading.Channels;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Testing.Cluster;

/// <summary>
/// A client as logic sees it through a broker: an account bound to a socket of the
/// <see cref="RecordingBroker"/>, whose requests go to the logic of one chosen silo, and the pushes
/// its socket received, in order.
/// </summary>
public sealed class ClusterVisitor
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly RecordingBroker _broker;
    private readonly List<object> _received = [];
    private ChannelReader<object> _pushes;
    private int _nextRequest;

    private ClusterVisitor(RecordingBroker broker, ILogic logic, ClientEndpoint endpoint, ChannelReader<object> pushes)
    {
        _broker = broker;
        Logic = logic;
        Endpoint = endpoint;
        _pushes = pushes;
    }

    /// <summary>The logic this visitor's broker calls (one silo's).</summary>
    public ILogic Logic { get; set; }

    public ClientEndpoint Endpoint { get; private set; }

    public ulong AccountId { get; private set; }

    public string NickName { get; private set; } = string.Empty;

    public string Token { get; private set; } = string.Empty;

    public static async Task<ClusterVisitor> CreateAsync(RecordingBroker broker, ILogic logic, string nickName)
    {
        var (endpoint, pushes) = broker.Open();
        var visitor = new ClusterVisitor(broker, logic, endpoint, pushes);
        var created = await logic.CreateAccountAsync(nickName, endpoint, CancellationToken.None).AsTask().Within(Timeout, "CreateAccount");
        if (created.Code != ResultCode.Success)
        {
            throw new InvalidOperationException($"CreateAccount: {created.Code}");
        }

        (visitor.AccountId, visitor.NickName, visitor.Token) = (created.AccountId, created.NickName, created.Token);
        return visitor;
    }

    public Task<MatchResult> MatchAsync() => MatchAsync(MatchWish.Anyone);

    /// <summary>MATCH_REQ with interests and a language.</summary>
    public async Task<MatchResult> MatchAsync(MatchWish wish) =>
        await Logic.MatchAsync(AccountId, null, null, wish, CancellationToken.None).AsTask().Within(Timeout, "Match");

    /// <summary>Sends a message, trying again with the same requestId while logic answers InternalErr (a silo died), as the web client does.</summary>
    public async Task<SendResult> SayAsync(ulong sessionId, string content, string? requestId = null)
    {
        requestId ??= $"{AccountId}-{Interlocked.Increment(ref _nextRequest)}";
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var sent = await Logic.SendAsync(AccountId, sessionId, requestId, content, CancellationToken.None).AsTask().Within(Timeout, "Send");
            if (sent.Code != ResultCode.InternalErr || DateTime.UtcNow > deadline)
            {
                return sent;
            }
        }
    }

    /// <summary>The socket is lost without a word (the grace period starts).</summary>
    public async Task LoseSocketAsync()
    {
        _broker.Drop(Endpoint);
        await Logic.LogoutAsync(AccountId, Endpoint, LeaveKind.Lost, CancellationToken.None).AsTask().Within(Timeout, "Logout");
    }

    /// <summary>Reconnects on a new socket of the broker and lets logic replay what it missed.</summary>
    public async Task<ReconnectResult> ReconnectAsync()
    {
        var (endpoint, pushes) = _broker.Open();
        (Endpoint, _pushes) = (endpoint, pushes);
        var result = await Logic.ReconnectAsync(AccountId, Token, endpoint, address: null, CancellationToken.None).AsTask().Within(Timeout, "Reconnect");
        await Logic.ResumeAsync(AccountId, endpoint, CancellationToken.None).AsTask().Within(Timeout, "Resume");
        return result;
    }

    /// <summary>Waits for the next push that matches, keeping every push seen on the way.</summary>
    public async Task<T> ExpectAsync<T>(Func<T, bool>? match = null)
    {
        foreach (var seen in _received)
        {
            if (seen is T earlier && (match is null || match(earlier)))
            {
                _received.Remove(seen);
                return earlier;
            }
        }

        using var timeout = new CancellationTokenSource(Timeout);
        while (true)
        {
            var push = await _pushes.ReadAsync(timeout.Token);
            if (push is T wanted && (match is null || match(wanted)))
            {
                return wanted;
            }

            _received.Add(push);
        }
    }

    /// <summary>Every push received so far that no <see cref="ExpectAsync{T}"/> took, in order.</summary>
    public IReadOnlyList<object> Received()
    {
        while (_pushes.TryRead(out var push))
        {
            _received.Add(push);
        }

        return _received;
    }

    public Task<SignalPush> ExpectSignalAsync(SignalKind kind) => ExpectAsync<SignalPush>(s => s.Kind == kind);
}
