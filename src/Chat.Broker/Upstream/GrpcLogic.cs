using System.Collections.Concurrent;
using System.Diagnostics;
using Chat.Broker.Connections;
using Chat.Broker.Diagnostics;
using Chat.Protocol.Frames;
using Chat.Protocol.Grpc;
using Chat.Protocol.Seams;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using Polly.Timeout;
using LogicClient = Chat.Protocol.Grpc.LogicDealer.LogicDealerClient;
using SessionSummary = Chat.Protocol.Frames.SessionSummary;

namespace Chat.Broker.Upstream;

/// <summary>
/// <see cref="ILogic"/> for a broker of a cluster: the seed's <c>LogicDealer</c> service on the
/// logic nodes <see cref="ILogicAddresses"/> knows, taken in turn (round-robin). A call that fails
/// on a node that does not answer is tried on the next one only where doing it twice is harmless
/// (a message with its requestId, an acknowledgement, a reconnect, a leave); otherwise, and when
/// every node failed, the client hears InternalErr and tries again itself. A node that failed a call
/// (refused it, or did not answer in time: hung, or cut off) is tried last for a while, so one bad
/// node costs the visitors one slow answer each rather than one in every few for as long as it is bad.
/// Each call on one node goes through the <see cref="UpstreamResilience.LogicCall"/> pipeline (its timeout).
/// A call that never left (the node refused the connection, or its certificate was not a logic node's of
/// the cluster, so the handshake failed) is tried on the next node whatever it is: nothing of it was sent.
/// A message a node answers InternalErr (its store could not take it: a node cut off from the database,
/// whose sessions the other nodes hold once they have declared it dead) goes on to the next node too.
/// </summary>
internal sealed partial class GrpcLogic(
    ILogicAddresses addresses,
    INodeLinks links,
    ConnectionRegistry registry,
    SitOuts sitOuts,
    BrokerTracing tracing,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<UpstreamOptions> options,
    ILogger<GrpcLogic> logger) : ILogic, IDisposable
{
    private readonly ResiliencePipeline _call = pipelines.GetPipeline(UpstreamResilience.LogicCall);
    private readonly int _maxOwners = options.Value.MaxRememberedOwners;
    private readonly TimeSpan _answerWithin = options.Value.AnswerWithin;
    private readonly TimeSpan _callTimeout = options.Value.CallTimeout;
    private readonly ConcurrentDictionary<string, Lazy<LogicNode>> _nodes = new();

    /// <summary>This start of the broker, named with every binding so that logic can tell its sockets from an earlier start's.</summary>
    private readonly long _incarnation = registry.Incarnation;

    /// <summary>For each session, the logic node that last said it holds the session's grain: its messages go there first.</summary>
    private readonly ConcurrentDictionary<ulong, string> _owners = new();
    /// <summary>
    /// Accounts whose last Match got no answer (the call timed out, or no node took it), with when
    /// (<see cref="Environment.TickCount64"/>): their next Match tells logic, which gives a pairing made
    /// for the lost one again instead of a second chat.
    /// </summary>
    private readonly ConcurrentDictionary<ulong, long> _lostAnswers = new();
    private const int MaxLostAnswers = 100_000;
    private const long LostAnswerKeptMs = 60_000; // as long as logic keeps the pairing
    private int _next;
    private volatile bool _perAccountReports; // set for good once a logic node did not know ConfirmDeliveredBatch

    public async ValueTask BrokerStartedAsync(string broker, long incarnation, CancellationToken cancellationToken)
    {
        var request = new BrokerStartedRequest { Broker = broker, Incarnation = incarnation };
        if (await CallAsync((n, o) => n.Client.BrokerStartedAsync(request, o).ResponseAsync, retry: true, cancellationToken) is null)
        {
            throw new InvalidOperationException("No logic node took the broker's start.");
        }
    }

    public async ValueTask<CreateAccountResult> CreateAccountAsync(string nickName, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        var request = new CreateAccountRequest { Nickname = nickName, Broker = endpoint.Broker, ConnectionId = endpoint.ConnectionId, Incarnation = _incarnation };
        var created = await CallAsync((n, o) => n.Client.CreateAccountAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return created is null
            ? new CreateAccountResult(ResultCode.InternalErr, 0, nickName, string.Empty, "try again")
            : new CreateAccountResult(created.Code.FromProto(), created.AccountId, created.Nickname, created.Token, NullIfEmpty(created.Msg));
    }

    public async ValueTask<ReconnectResult> ReconnectAsync(ulong accountId, string token, ClientEndpoint endpoint, string? address, CancellationToken cancellationToken)
    {
        var request = new ReConnectRequest { AccountId = accountId, Token = token, Broker = endpoint.Broker, ConnectionId = endpoint.ConnectionId, Incarnation = _incarnation, Address = address ?? string.Empty };
        var result = await CallAsync((n, o) => n.Client.ReconnectAsync(request, o).ResponseAsync, retry: true, cancellationToken);
        return result is null
            ? new ReconnectResult(ResultCode.InternalErr, accountId, string.Empty, [])
            : new ReconnectResult(
                result.Code.FromProto(),
                accountId,
                result.Nickname,
                [.. result.Sessions.Select(s => new SessionSummary(s.SessionId, s.PartnerId, s.PartnerName, s.PartnerOnline, s.PartnerReadUpTo))],
                (int)Math.Min(result.RetryAfter, int.MaxValue),
                NullIfEmpty(result.Msg));
    }

    public async ValueTask LogoutAsync(ulong accountId, ClientEndpoint endpoint, LeaveKind how, CancellationToken cancellationToken)
    {
        var request = new LogoutRequest
        {
            AccountId = accountId,
            Broker = endpoint.Broker,
            ConnectionId = endpoint.ConnectionId,
            How = how == LeaveKind.Closed ? LeaveKindEnum.Closed : LeaveKindEnum.Lost,
            Incarnation = _incarnation,
        };
        await CallAsync((n, o) => n.Client.LogoutAsync(request, o).ResponseAsync, retry: true, cancellationToken);
    }

    public async ValueTask ResumeAsync(ulong accountId, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        var request = new ResumeRequest { AccountId = accountId, Broker = endpoint.Broker, ConnectionId = endpoint.ConnectionId, Incarnation = _incarnation };
        await CallAsync((n, o) => n.Client.ResumeAsync(request, o).ResponseAsync, retry: true, cancellationToken);
    }

    public async ValueTask ConfirmDeliveredAsync(IReadOnlyList<DeliveryReport> reports, CancellationToken cancellationToken)
    {
        // One call for the whole report: each account's marks together (a socket's come one after another).
        var request = new ConfirmDeliveredBatchRequest();
        ConfirmDeliveredRequest? account = null;
        foreach (var (accountId, sessionId, msgId) in reports)
        {
            if (account?.AccountId != accountId)
            {
                account = new ConfirmDeliveredRequest { AccountId = accountId };
                request.Accounts.Add(account);
            }

            account.Marks.Add(new DeliveryMark { SessionId = sessionId, MsgId = msgId });
        }

        if (!_perAccountReports)
        {
            try
            {
                await CallAsync((n, o) => n.Client.ConfirmDeliveredBatchAsync(request, o).ResponseAsync, retry: true, cancellationToken);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unimplemented)
            {
                // A logic node older than this broker (an upgrade under way): one call per account, as such nodes know.
                _perAccountReports = true;
                Log.ReportsPerAccount(logger);
            }
        }

        var calls = new List<Task>(request.Accounts.Count); // at once, as the per-socket reports went before
        foreach (var marks in request.Accounts)
        {
            calls.Add(CallAsync((n, o) => n.Client.ConfirmDeliveredAsync(marks, o).ResponseAsync, retry: true, cancellationToken));
        }

        await Task.WhenAll(calls);
    }

    public async ValueTask<MatchResult> MatchAsync(ulong accountId, string? address, string? altcha, MatchWish wish, CancellationToken cancellationToken)
    {
        var request = new MatchRequest
        {
            AccountId = accountId,
            Address = address ?? string.Empty,
            Altcha = altcha ?? string.Empty,
            Lang = wish.Lang ?? string.Empty,
            NoFallback = !wish.Fallback,
            AfterLostAnswer = _lostAnswers.TryRemove(accountId, out var lostAt) && Environment.TickCount64 - lostAt < LostAnswerKeptMs,
        };
        if (wish.Interests is { } interests)
        {
            request.Interests.Add(interests);
        }

        var match = await CallAsync((n, o) => n.Client.MatchAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        if (match is null)
        {
            RememberLostAnswer(accountId);
        }

        return match is null
            ? new MatchResult(ResultCode.InternalErr, Message: "try again")
            : new MatchResult(
                match.Code.FromProto(), match.PartnerId, NullIfEmpty(match.PartnerName), match.SessionId, NullIfEmpty(match.Msg),
                match.RetryAfter > 0 ? match.RetryAfter : null, match.Challenge?.FromProto(), [.. match.CommonInterests]);
    }

    private void RememberLostAnswer(ulong accountId)
    {
        var now = Environment.TickCount64;
        if (_lostAnswers.Count >= MaxLostAnswers)
        {
            foreach (var (account, at) in _lostAnswers)
            {
                if (now - at >= LostAnswerKeptMs)
                {
                    _lostAnswers.TryRemove(account, out _);
                }
            }
        }

        if (_lostAnswers.Count < MaxLostAnswers)
        {
            _lostAnswers[accountId] = now;
        }
    }

    // The limits: a call that counts (a socket, an account) is not tried twice, so a node that
    // failed leaves it unchecked rather than counted twice; a report sets counts, so it may be.

    public async ValueTask<Admission> AdmitSocketAsync(string address, string broker, CancellationToken cancellationToken)
    {
        var request = new AdmitSocketRequest { Address = address, Broker = broker };
        var answer = await CallAsync((n, o) => n.Client.AdmitSocketAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return answer?.FromProto() ?? Admission.Unchecked;
    }

    public async ValueTask SocketClosedAsync(string address, string broker, CancellationToken cancellationToken)
    {
        var request = new SocketClosedRequest { Address = address, Broker = broker };
        await CallAsync((n, o) => n.Client.SocketClosedAsync(request, o).ResponseAsync, retry: false, cancellationToken);
    }

    public async ValueTask ReportSocketsAsync(string broker, IReadOnlyList<Protocol.Seams.HeldSockets> held, CancellationToken cancellationToken)
    {
        var request = new ReportSocketsRequest { Broker = broker };
        request.Held.AddRange(held.Select(h => new Protocol.Grpc.HeldSockets { Address = h.Address, Count = h.Count }));
        await CallAsync((n, o) => n.Client.ReportSocketsAsync(request, o).ResponseAsync, retry: true, cancellationToken);
    }

    public async ValueTask<Admission> AdmitAccountAsync(string address, string? altcha, CancellationToken cancellationToken)
    {
        var request = new AdmitAccountRequest { Address = address, Altcha = altcha ?? string.Empty };
        var answer = await CallAsync((n, o) => n.Client.AdmitAccountAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return answer?.FromProto() ?? Admission.Unchecked;
    }

    public async ValueTask<ReportResult> ReportAsync(ulong accountId, ulong sessionId, string reason, string? note, string? address, CancellationToken cancellationToken)
    {
        var request = new ReportRequest { AccountId = accountId, SessionId = sessionId, Reason = reason, Note = note ?? string.Empty, Address = address ?? string.Empty };
        var answer = await CallAsync((n, o) => n.Client.ReportAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return answer is null ? new ReportResult(ResultCode.InternalErr, "try again") : new ReportResult(answer.Code.FromProto(), NullIfEmpty(answer.Msg), answer.RetryAfter > 0 ? answer.RetryAfter : null);
    }

    /// <summary>The bans in force; on a failure of every node, the ones known stand (null: unchanged).</summary>
    public async ValueTask<BanBook?> ReadBansAsync(long knownVersion, CancellationToken cancellationToken)
    {
        var request = new ReadBansRequest { KnownVersion = knownVersion };
        var answer = await CallAsync((n, o) => n.Client.ReadBansAsync(request, o).ResponseAsync, retry: true, cancellationToken);
        return answer?.FromProto();
    }

    public async ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, CancellationToken cancellationToken)
    {
        _owners.TryGetValue(sessionId, out var owner);
        using var span = TraceParent.StartRoot(tracing.Source, "DIALOGUE_REQ", ActivityKind.Client); // null unless tracing is on
        span?.SetTag("chat.session_id", sessionId);
        var traceparent = span?.Id ?? string.Empty;
        var sent = await CallAsync(
            (n, o) => n.Stream(links.Headers).SendAsync(new SendMsgRequest { SenderId = senderId, SessionId = sessionId, Msgtype = MsgTypeEnum.Dialogue, Content = content, RequestId = requestId, Traceparent = traceparent }, o.CancellationToken),
            retry: true,
            cancellationToken,
            first: owner,
            declined: static answer => answer.Code == CodeEnum.InternalErr);
        if (sent is { Owner.Length: > 0 } && sent.Owner != owner)
        {
            if (_owners.Count >= _maxOwners)
            {
                _owners.Clear();
            }

            _owners[sessionId] = sent.Owner;
        }

        return sent is null
            ? new SendResult(ResultCode.InternalErr, Message: "try again")
            : new SendResult(sent.Code.FromProto(), sent.MsgId, NullIfEmpty(sent.Msg), NullIfEmpty(sent.Owner));
    }

    public async ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        var request = new ViewedAckRequest { AccountId = accountId, SessionId = sessionId, MsgId = msgId };
        var answer = await CallAsync((n, o) => n.Client.ViewedAckAsync(request, o).ResponseAsync, retry: true, cancellationToken);
        return answer?.Code.FromProto() ?? ResultCode.InternalErr;
    }

    public async ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken)
    {
        var request = new EndSessionRequest { AccountId = accountId, SessionId = sessionId };
        var answer = await CallAsync((n, o) => n.Client.EndSessionAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return answer?.Code.FromProto() ?? ResultCode.InternalErr;
    }

    public async ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken)
    {
        var request = new TypingRequest { AccountId = accountId, SessionId = sessionId };
        var answer = await CallAsync((n, o) => n.Client.TypingAsync(request, o).ResponseAsync, retry: false, cancellationToken);
        return answer?.Code.FromProto() ?? ResultCode.InternalErr;
    }

    public async ValueTask<ChatStats> GetStatsAsync(CancellationToken cancellationToken)
    {
        var stats = await CallAsync((n, o) => n.Client.GetStatsAsync(new StatsRequest(), o).ResponseAsync, retry: true, cancellationToken);
        return stats is null ? new ChatStats(0, 0) : new ChatStats(stats.Online, stats.Waiting);
    }

    /// <summary>Whether some logic node answers now (the broker's readiness).</summary>
    public async Task<bool> AnyNodeAnswersAsync(CancellationToken cancellationToken) =>
        await CallAsync((n, o) => n.Client.GetStatsAsync(new StatsRequest(), o).ResponseAsync, retry: true, cancellationToken) is not null;

    public void Dispose()
    {
        foreach (var node in _nodes.Values)
        {
            node.Value.Dispose();
        }
    }

    /// <summary>
    /// The call on the next node in turn, or on <paramref name="first"/> if it is known and has not failed
    /// lately; on a node that fails, on the next (if <paramref name="retry"/>); null if none answered.
    /// </summary>
    /// <param name="declined">
    /// An answer by which a node says it could not do it itself (a message its store could not take: a node cut off
    /// from the database, whose grains the other nodes have taken over by then): the next node is tried, as after a
    /// failure, and the node sits out; if none does better, the last such answer is the result.
    /// </param>
    private async Task<T?> CallAsync<T>(Func<LogicNode, CallOptions, Task<T>> call, bool retry, CancellationToken cancellationToken, string? first = null, Func<T, bool>? declined = null)
        where T : class
    {
        var nodes = addresses.Current;
        if (nodes.Count == 0)
        {
            Log.NoLogicNode(logger);
            return null;
        }

        // Every message comes through here: the order is walked with indexes, not built with LINQ.
        // Nodes that had not failed lately when the call began come first (pass 0), then those
        // sitting out (pass 1); within a pass, `first` if it is known, then the rest in turn. A node
        // that fails during this call is not tried again in it.
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)nodes.Count);
        var now = sitOuts.Now;
        var preferred = first is not null && nodes.Contains(first) ? first : null;
        var attempts = retry ? nodes.Count : 1;
        List<string>? failedNow = null;
        T? declinedAnswer = null;
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = preferred is null ? 0 : -1; i < nodes.Count; i++)
            {
                var node = i < 0 ? preferred! : nodes[(start + i) % nodes.Count];
                if ((i >= 0 && node == preferred) || sitOuts.IsSittingOut(node, now) != (pass == 1) || failedNow?.Contains(node) == true)
                {
                    continue;
                }

                // The whole walk is bounded by AnswerWithin, once: a node tried after another took its time gets only what is left.
                var left = _answerWithin - sitOuts.Since(now);
                if (left <= TimeSpan.Zero)
                {
                    return declinedAnswer;
                }

                var (answer, failed, neverSent) = await TryCallAsync(call, node, failedNow is not null && left < _callTimeout ? left : null, cancellationToken);
                if (!failed && (declined is null || !declined(answer!)))
                {
                    return answer;
                }

                if (!failed)
                {
                    declinedAnswer = answer;
                    sitOuts.Failed(node);
                }

                // A call that never left costs no attempt: nothing of it was done, so any call may go on to the next node.
                // One that took its time is answered "try again" rather than kept waiting on yet another node.
                if ((!neverSent && --attempts == 0) || sitOuts.Since(now) >= _answerWithin)
                {
                    return declinedAnswer;
                }

                (failedNow ??= []).Add(node);
            }
        }

        return declinedAnswer;
    }

    /// <summary>
    /// The call on one node, within its timeout; failed if that node did not answer (it then sits out a while),
    /// and never sent if it failed before the request could leave (no connection, or the handshake refused it).
    /// </summary>
    /// <param name="within">Shorter than the call's own timeout: what is left of the request's <see cref="UpstreamOptions.AnswerWithin"/>.</param>
    private async Task<(T? Answer, bool Failed, bool NeverSent)> TryCallAsync<T>(Func<LogicNode, CallOptions, Task<T>> call, string node, TimeSpan? within, CancellationToken cancellationToken)
        where T : class
    {
        using var left = within is not null ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
        left?.CancelAfter(within!.Value);
        try
        {
            var answer = await _call.ExecuteAsync(
                static (state, token) => GrpcTimeouts.WithinAsync(state.call(state.node, new CallOptions(state.headers, cancellationToken: token)), token),
                (call, node: NodeAt(node), headers: links.Headers),
                left?.Token ?? cancellationToken);
            sitOuts.Answered(node);
            return (answer, false, false);
        }
        catch (OperationCanceledException) when (left is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
        {
            sitOuts.Failed(node);
            Log.NodeTimedOut(logger, node); // what was left of the request's time ran out
            return (null, true, false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && left is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
        {
            sitOuts.Failed(node);
            Log.NodeTimedOut(logger, node);
            return (null, true, false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown or StatusCode.PermissionDenied or StatusCode.Unauthenticated)
        {
            sitOuts.Failed(node);
            Log.NodeFailed(logger, node, ex.StatusCode, ex);
            return (null, true, NeverSent(ex));
        }
        catch (TimeoutRejectedException)
        {
            sitOuts.Failed(node);
            Log.NodeTimedOut(logger, node);
            return (null, true, false);
        }
        catch (ObjectDisposedException ex)
        {
            Log.NodeFailed(logger, node, StatusCode.Unavailable, ex); // let go meanwhile: it left the list of logic nodes
            return (null, true, false);
        }
    }

    private LogicNode NodeAt(string address)
    {
        if (_nodes.TryGetValue(address, out var known))
        {
            return known.Value;
        }

        ForgetGone(); // a new address: the list changed, so nodes no longer in it (gone, or someone's bogus entry in etcd) are let go
        return _nodes.GetOrAdd(address, a => new Lazy<LogicNode>(() => new LogicNode(links.ChannelTo(a, NodeRole.Logic)))).Value;
    }

    private void ForgetGone()
    {
        var current = addresses.Current;
        foreach (var (address, node) in _nodes)
        {
            if (!current.Contains(address) && _nodes.TryRemove(new KeyValuePair<string, Lazy<LogicNode>>(address, node)))
            {
                sitOuts.Forget(address);
                if (node.IsValueCreated)
                {
                    node.Value.Dispose(); // a call still on it fails and goes to the next node
                }
            }
        }
    }

    /// <summary>The call failed before anything of it left: the connection was refused, or the handshake (the node is not a logic node of the cluster).</summary>
    private static bool NeverSent(RpcException ex)
    {
        for (var inner = ex.InnerException ?? ex.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError })
            {
                return true;
            }
        }

        return false;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>One logic node: its channel, its client, and the send stream over that channel (made again when it breaks).</summary>
    private sealed class LogicNode(GrpcChannel channel) : IDisposable
    {
        private readonly GrpcChannel _channel = channel;
        private readonly Lock _streamLock = new();
        private SendStream? _stream;

        public LogicClient Client => field ??= new LogicClient(_channel);

        public SendStream Stream(Metadata headers)
        {
            var stream = Volatile.Read(ref _stream);
            if (stream is { Usable: true })
            {
                return stream;
            }

            lock (_streamLock)
            {
                if (_stream is not { Usable: true })
                {
                    _stream?.Dispose();
                    _stream = TraceParent.Detached(() => new SendStream(Client, headers)); // the stream outlives the message that opened it
                }

                return _stream;
            }
        }

        public void Dispose()
        {
            _stream?.Dispose();
            _channel.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Logic node {Node} failed a call ({Status}).")]
        public static partial void NodeFailed(ILogger logger, string node, StatusCode status, Exception exception);

        // One line, no exception: under load many calls time out at once, and the stack traces of a
        // storm's timeouts (9 KiB each) once cost a broker more CPU than its visitors did.
        [LoggerMessage(5, LogLevel.Warning, "Logic node {Node} did not answer a call in time.")]
        public static partial void NodeTimedOut(ILogger logger, string node);

        [LoggerMessage(2, LogLevel.Warning, "No logic node is known: requests are answered InternalErr until one is.")]
        public static partial void NoLogicNode(ILogger logger);

        [LoggerMessage(3, LogLevel.Warning, "A logic node does not know ConfirmDeliveredBatch (it is older than this broker): delivery reports go one call per account until this broker restarts.")]
        public static partial void ReportsPerAccount(ILogger logger);
    }
}
