using Chat.Logic.Abuse;
using Chat.Logic.Accounts;
using Chat.Logic.Diagnostics;
using Chat.Logic.Ids;
using Chat.Logic.Matching;
using Chat.Logic.Moderation;
using Chat.Logic.Sessions;
using Chat.Logic.Storage;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Logic;

/// <summary>
/// What a broker asks of logic, answered on this node by the grains (wherever in the cluster they
/// live). Checks that need no state (lengths, formats) are made here, before any grain is called;
/// a chat message costs one grain call.
/// </summary>
internal sealed partial class GrainLogic(
    ChatGrains grains,
    StoreWriter writer,
    IdAllocator ids,
    LiveCounts counts,
    Admissions admissions,
    ModerationDesk moderation,
    IOptions<LogicOptions> options,
    IOptions<MatchingOptions> matching,
    LogicMetrics metrics,
    TimeProvider time,
    ILogger<GrainLogic> logger) : ILogic
{
    // Pairings tried for one MATCH_REQ whose partner left before the session started (each such partner is gone from the pool).
    private const int MatchAttempts = 3;

    private readonly LogicOptions _options = options.Value;
    private readonly MatchingOptions _matching = matching.Value;

    public async ValueTask BrokerStartedAsync(string broker, long incarnation, CancellationToken cancellationToken)
    {
        await writer.WriteAsync(new StoreWrite.BrokerGone(broker, time.GetUtcNow().ToUnixTimeMilliseconds(), incarnation));
        await grains.EveryMatchmaker(shard => shard.Prune()); // visitors who were waiting on the old incarnation's sockets are no one's partners now
        await admissions.BrokerStartedAsync(broker); // and the sockets it held count against no address
        counts.Changed();
    }

    public async ValueTask<CreateAccountResult> CreateAccountAsync(string nickName, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        if (!NickNames.TryNormalize(nickName, _options.MaxNickNameLength, out var name))
        {
            return new CreateAccountResult(ResultCode.ParamErr, 0, nickName, string.Empty, $"nickName must be 1-{_options.MaxNickNameLength} characters");
        }

        // A new account needs no grain yet: it is a row, and its grain reads it when first needed.
        var (token, hash) = AccountTokens.Create();
        try
        {
            var id = await ids.NextAsync(IdKind.Account);
            await writer.WriteAsync(new StoreWrite.NewAccount(new AccountRecord(id, name, hash, time.GetUtcNow().ToUnixTimeMilliseconds(), endpoint)));
            counts.Changed();
            Log.AccountCreated(logger, id, endpoint);
            return new CreateAccountResult(ResultCode.Success, id, name, token);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, nameof(CreateAccountAsync), ex);
            return new CreateAccountResult(ResultCode.InternalErr, 0, name, string.Empty, "store unavailable");
        }
    }

    public async ValueTask<ReconnectResult> ReconnectAsync(ulong accountId, string token, ClientEndpoint endpoint, string? address, CancellationToken cancellationToken)
    {
        // Before the account is looked up: past its failed reconnects, an address guessing ids or
        // tokens is refused without costing the store a read (sockets whose address is unknown are not counted as one).
        address = address is ClientAddresses.Unknown ? null : address;
        if (address is not null && await admissions.AdmitReconnectAsync(address) is { IsRefused: true } refused)
        {
            return new ReconnectResult(refused.Code, accountId, string.Empty, [], refused.RetryAfter ?? 0, refused.Message);
        }

        if (!IsId(accountId))
        {
            Failed(address);
            return new ReconnectResult(ResultCode.NoDataFound, accountId, string.Empty, []);
        }

        Reconnected reconnected;
        try
        {
            reconnected = await Account(accountId).Reconnect(token, endpoint);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(ReconnectAsync), ex);
            return new ReconnectResult(ResultCode.InternalErr, accountId, string.Empty, []);
        }

        if (reconnected.Code == ResultCode.NoDataFound)
        {
            Failed(address);
        }
        else if (reconnected.Code == ResultCode.Success)
        {
            counts.Changed();
        }

        return new ReconnectResult(
            reconnected.Code,
            accountId,
            reconnected.NickName,
            [.. reconnected.Sessions.Select(s => new SessionSummary(s.SessionId, s.PartnerId, s.PartnerName, s.PartnerOnline, s.PartnerReadUpTo))],
            reconnected.RetryAfterSeconds);
    }

    public async ValueTask LogoutAsync(ulong accountId, ClientEndpoint endpoint, LeaveKind how, CancellationToken cancellationToken)
    {
        await Account(accountId).Logout(endpoint, how);
        counts.Changed();
    }

    public async ValueTask ResumeAsync(ulong accountId, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            await Account(accountId).Resume(endpoint);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(ResumeAsync), ex); // the client's next reconnect replays again
        }
    }

    // The overloads with viaBroker serve brokers of a cluster (LogicDealerService): the calling broker's
    // address as its certificate names it (null without TLS), so that it can act for its own visitors only.

    public async ValueTask<ResultCode> ConfirmDeliveredAsync(ulong accountId, ulong sessionId, ulong msgId, string? viaBroker, CancellationToken cancellationToken) =>
        IsId(sessionId) ? await Session(sessionId).ConfirmDelivered(accountId, msgId, viaBroker) : ResultCode.ParamErr;

    public async ValueTask ConfirmDeliveredAsync(IReadOnlyList<DeliveryReport> reports, CancellationToken cancellationToken) =>
        await ConfirmDeliveredAsync(reports, viaBroker: null, cancellationToken);

    /// <summary>
    /// Every mark of a broker's report at once: each session's grain is called without waiting for the
    /// others, so the store writer gets their marks together and commits them in one transaction. The
    /// code is the first refusal; the other marks still count (each is about one session).
    /// </summary>
    public async ValueTask<ResultCode> ConfirmDeliveredAsync(IReadOnlyList<DeliveryReport> reports, string? viaBroker, CancellationToken cancellationToken)
    {
        var confirmed = new Task<ResultCode>[reports.Count];
        for (var i = 0; i < reports.Count; i++)
        {
            var (accountId, sessionId, msgId) = reports[i];
            confirmed[i] = IsId(sessionId) ? Session(sessionId).ConfirmDelivered(accountId, msgId, viaBroker) : Task.FromResult(ResultCode.ParamErr);
        }

        var code = ResultCode.Success;
        foreach (var outcome in await Task.WhenAll(confirmed))
        {
            code = code == ResultCode.Success ? outcome : code;
        }

        return code;
    }

    public ValueTask<MatchResult> MatchAsync(ulong accountId, string? address, string? altcha, MatchWish wish, CancellationToken cancellationToken) =>
        MatchAsync(accountId, address, altcha, wish, viaBroker: null, cancellationToken);

    public async ValueTask<MatchResult> MatchAsync(ulong accountId, string? address, string? altcha, MatchWish wish, string? viaBroker, CancellationToken cancellationToken)
    {
        if (!Interests.TryFold(wish.Interests, _matching.MaxInterests, _matching.MaxInterestLength, out var interests, out var refusal))
        {
            return new MatchResult(ResultCode.ParamErr, Message: refusal);
        }

        if (!Interests.TryFoldLanguage(wish.Lang, out var lang))
        {
            return new MatchResult(ResultCode.ParamErr, Message: "lang must be a BCP 47 language tag, such as en or en-US");
        }

        MatchTicket ticket;
        OpenedSession opened;
        MatchTicket? paired = null;
        try
        {
            if (viaBroker is not null && !(IsId(accountId) && await Account(accountId).IsBoundTo(viaBroker)))
            {
                return new MatchResult(ResultCode.ParamErr, Message: "not your account");
            }

            // A solution is spent before the matchmaker hears of it: it counts once, whatever follows.
            var failed = altcha is not null && address is not null ? await admissions.SpendAsync(address, altcha) : null;
            var reported = address is not null && await moderation.IsChallengedAsync(address);
            var solved = altcha is not null && address is not null && failed is null;
            var attempts = 0;
            do
            {
                ticket = await grains.MatchmakerOf(accountId).Match(new MatchCall(accountId, address, solved, interests, lang, wish.Fallback, reported, wish.AfterLostAnswer));
                counts.Changed();
                if (ticket.Code != ResultCode.Success)
                {
                    return ticket.Code switch
                    {
                        ResultCode.NoDataFound => new MatchResult(ResultCode.NoDataFound, Message: "waiting for a partner"),
                        ResultCode.RateLimited => Refused(ticket),
                        ResultCode.ChallengeRequired => Challenged(admissions.Challenge(
                            address!, failed, ticket.Refused == Refusal.Reported ? "be matched (your address was reported lately)" : $"be matched again (more than {ticket.Limit} new partners in a minute)")),
                        ResultCode.ParamErr => new MatchResult(ResultCode.ParamErr, Message: _options.MaxActiveSessions == 1
                            ? "you are in a chat already: end it to meet someone new"
                            : $"you are in {_options.MaxActiveSessions} chats already: end one to meet someone new"),
                        _ => new MatchResult(ticket.Code, Message: "store unavailable"),
                    };
                }

                // The session tells the partner (NewSession) before the caller hears of it, so nothing
                // the caller sends can reach the partner before the session does.
                paired = ticket;
                opened = await Session(ticket.SessionId).Open(accountId, address, ticket.PartnerAddress, ticket.CommonInterests ?? []);

                // NoDataFound: the partner left between the pairing and the start, ending the session
                // first. Not the caller's failure: it is matched again (with the next, or it waits).
            }
            while (opened.Code == ResultCode.NoDataFound && ++attempts < MatchAttempts);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(MatchAsync), ex);
            if (paired is not null)
            {
                await KeepUnheardAsync(accountId, paired.Value); // paired, the session not yet open: the next request opens it
            }

            return new MatchResult(ResultCode.InternalErr, Message: "try again");
        }

        if (opened.Code != ResultCode.Success)
        {
            return new MatchResult(ResultCode.InternalErr, Message: "the session could not start");
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // The broker stopped waiting (its call timed out), so this answer reaches nobody: the caller
            // hears of the session as a partner does, and should it ask again (told "try again"), it is
            // given this session, not a second one.
            await TellUnheardAsync(accountId, ticket);
        }

        if (!ticket.Again)
        {
            metrics.SessionStarted();
            Log.Matched(logger, ticket.SessionId, ticket.PartnerId, accountId);
        }

        return new MatchResult(ResultCode.Success, opened.PartnerId, opened.PartnerName, ticket.SessionId, CommonInterests: ticket.CommonInterests ?? []);
    }

    private async Task KeepUnheardAsync(ulong accountId, MatchTicket ticket)
    {
        try
        {
            await grains.MatchmakerOf(accountId).Unheard(accountId, ticket);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(KeepUnheardAsync), ex); // its next request finds it in a session, and waits for another
        }
    }

    private async Task TellUnheardAsync(ulong accountId, MatchTicket ticket)
    {
        await KeepUnheardAsync(accountId, ticket);
        try
        {
            await Session(ticket.SessionId).TellCaller(accountId, ticket.CommonInterests ?? []);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(TellUnheardAsync), ex); // it hears of the session when it asks again
        }
    }

    private static MatchResult Challenged(Admission challenge) =>
        new(challenge.Code, Message: challenge.Message, Challenge: challenge.Challenge);

    private MatchResult Refused(MatchTicket ticket)
    {
        metrics.Refused(ticket.Refused ?? Refusal.Matches);
        var message = ticket.Refused == Refusal.Waiting
            ? $"too many visitors from your address are waiting for a partner (at most {ticket.Limit})"
            : $"too many new partners in a minute (at most {ticket.Limit})";
        return new MatchResult(ResultCode.RateLimited, Message: message, RetryAfter: ticket.RetryAfter);
    }

    public ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, CancellationToken cancellationToken) =>
        SendAsync(senderId, sessionId, requestId, content, viaBroker: null, cancellationToken);

    public async ValueTask<SendResult> SendAsync(ulong senderId, ulong sessionId, string requestId, string content, string? viaBroker, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(requestId) || requestId.Length > _options.MaxRequestIdLength)
        {
            return new SendResult(ResultCode.ParamErr, Message: $"requestId must be 1-{_options.MaxRequestIdLength} characters");
        }

        if (string.IsNullOrWhiteSpace(content) || content.Length > _options.MaxContentLength * 2 || CountCharacters(content) > _options.MaxContentLength)
        {
            return new SendResult(ResultCode.ParamErr, Message: $"content must be 1-{_options.MaxContentLength} characters");
        }

        if (!IsId(sessionId))
        {
            return new SendResult(ResultCode.ParamErr, Message: "not your session");
        }

        try
        {
            var sent = await Session(sessionId).Send(senderId, requestId, content, viaBroker);
            return new SendResult(sent.Code, sent.MsgId, sent.Message, sent.Owner);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(SendAsync), ex); // the client retries with the same requestId
            return new SendResult(ResultCode.InternalErr, Message: "try again");
        }
    }

    public ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken) =>
        ViewedAckAsync(accountId, sessionId, msgId, viaBroker: null, cancellationToken);

    public ValueTask<ResultCode> ViewedAckAsync(ulong accountId, ulong sessionId, ulong msgId, string? viaBroker, CancellationToken cancellationToken) =>
        AskSessionAsync(sessionId, session => session.ViewedAck(accountId, msgId, viaBroker), nameof(ViewedAckAsync));

    public ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken) =>
        EndSessionAsync(accountId, sessionId, viaBroker: null, cancellationToken);

    public async ValueTask<ResultCode> EndSessionAsync(ulong accountId, ulong sessionId, string? viaBroker, CancellationToken cancellationToken)
    {
        var ended = await AskSessionAsync(sessionId, session => session.End(accountId, viaBroker), nameof(EndSessionAsync));
        counts.Changed();
        return ended;
    }

    public ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, CancellationToken cancellationToken) =>
        TypingAsync(accountId, sessionId, viaBroker: null, cancellationToken);

    public ValueTask<ResultCode> TypingAsync(ulong accountId, ulong sessionId, string? viaBroker, CancellationToken cancellationToken) =>
        AskSessionAsync(sessionId, session => session.Typing(accountId, viaBroker), nameof(TypingAsync));

    public async ValueTask<ChatStats> GetStatsAsync(CancellationToken cancellationToken)
    {
        ChatCounts now;
        try
        {
            now = await counts.ReadAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Counts are a courtesy: while the store cannot be read, the last ones read will do
            // (the answer has no code for "unknown", and failing it would cost the client its socket).
            Log.StatsFailed(logger, ex);
            now = counts.Last;
        }

        return new ChatStats(now.Online, now.Waiting);
    }

    public ValueTask<Admission> AdmitSocketAsync(string address, string broker, CancellationToken cancellationToken) =>
        admissions.AdmitSocketAsync(address, broker);

    public ValueTask SocketClosedAsync(string address, string broker, CancellationToken cancellationToken) =>
        admissions.SocketClosedAsync(address, broker);

    public ValueTask ReportSocketsAsync(string broker, IReadOnlyList<HeldSockets> held, CancellationToken cancellationToken) =>
        admissions.ReportSocketsAsync(broker, held);

    public ValueTask<Admission> AdmitAccountAsync(string address, string? altcha, CancellationToken cancellationToken) =>
        admissions.AdmitAccountAsync(address, altcha);

    public ValueTask<ReportResult> ReportAsync(ulong accountId, ulong sessionId, string reason, string? note, string? address, CancellationToken cancellationToken) =>
        ReportAsync(accountId, sessionId, reason, note, address, viaBroker: null, cancellationToken);

    public async ValueTask<ReportResult> ReportAsync(ulong accountId, ulong sessionId, string reason, string? note, string? address, string? viaBroker, CancellationToken cancellationToken)
    {
        if (!ModerationOptions.Reasons.Contains(reason))
        {
            return new ReportResult(ResultCode.ParamErr, "reason must be one of spam, harassment, sexual, minor, other");
        }

        if (note is not null && (note.Length > ModerationOptions.MaxNoteLength * 2 || CountCharacters(note) > ModerationOptions.MaxNoteLength))
        {
            return new ReportResult(ResultCode.ParamErr, $"note must be at most {ModerationOptions.MaxNoteLength} characters");
        }

        if (!IsId(sessionId))
        {
            return new ReportResult(ResultCode.ParamErr, "not your session");
        }

        // Each report kept costs a month of storage and an avoided pair: past its allowance the address's chat
        // ends all the same (the reporter wants out, and its page has left already), and nothing is kept.
        if (address is not null and not ClientAddresses.Unknown && await admissions.AdmitReportAsync(address) is { IsRefused: true } refused)
        {
            await EndSessionAsync(accountId, sessionId, viaBroker, cancellationToken);
            return new ReportResult(refused.Code, $"{refused.Message} (the chat was ended, the report not kept)", refused.RetryAfter);
        }

        try
        {
            var reported = await Session(sessionId).Report(accountId, viaBroker);
            switch (reported.Code)
            {
                case ResultCode.ParamErr:
                    return new ReportResult(ResultCode.ParamErr, "not your session");
                case ResultCode.NoDataFound:
                    return new ReportResult(ResultCode.NoDataFound, "that chat ended too long ago to be reported");
            }

            counts.Changed();
            var from = address is null or ClientAddresses.Unknown ? reported.ReporterAddress : address;
            await moderation.FileAsync(sessionId, accountId, reported.PartnerId, from, reported.ReporterAddress, reported.PartnerAddress, reason, string.IsNullOrWhiteSpace(note) ? null : note);
            return new ReportResult(ResultCode.Success);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, nameof(ReportAsync), ex);
            return new ReportResult(ResultCode.InternalErr, "try again");
        }
        catch (StoreUnavailableException ex)
        {
            Log.StoreFailed(logger, nameof(ReportAsync), ex);
            return new ReportResult(ResultCode.InternalErr, "try again");
        }
    }

    public async ValueTask<BanBook?> ReadBansAsync(long knownVersion, CancellationToken cancellationToken)
    {
        var book = await moderation.BansAsync();
        return book.Version == knownVersion ? null : book;
    }

    /// <summary>A session's answer to a request about it; InternalErr when its grain cannot be reached.</summary>
    private async ValueTask<ResultCode> AskSessionAsync(ulong sessionId, Func<ISessionGrain, Task<ResultCode>> ask, string operation)
    {
        if (!IsId(sessionId))
        {
            return ResultCode.ParamErr;
        }

        try
        {
            return await ask(Session(sessionId));
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.GrainFailed(logger, operation, ex);
            return ResultCode.InternalErr;
        }
    }

    /// <summary>
    /// A grain could not be reached or did not answer in time: its node died, or the cluster is
    /// busy. The client hears InternalErr and tries again (with the same requestId for a message).
    /// </summary>
    private static bool IsUnavailable(Exception ex) => ex is OrleansException or TimeoutException or OperationCanceledException or StoreUnavailableException;

    /// <summary>An id the store could have handed out; anything else names no grain worth activating.</summary>
    private void Failed(string? address)
    {
        if (address is not null)
        {
            admissions.ReconnectFailed(address);
        }
    }

    private static bool IsId(ulong id) => id is > 0 and < IChatStore.IdLimit;

    private IAccountGrain Account(ulong accountId) => grains.Account(accountId);

    private ISessionGrain Session(ulong sessionId) => grains.Session(sessionId);

    private static int CountCharacters(string content)
    {
        var count = 0;
        foreach (var _ in content.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Account {AccountId} created on {Endpoint}.")]
        public static partial void AccountCreated(ILogger logger, ulong accountId, ClientEndpoint endpoint);

        [LoggerMessage(2, LogLevel.Debug, "Session {SessionId} started between {WaitingId} and {CallerId}.")]
        public static partial void Matched(ILogger logger, ulong sessionId, ulong waitingId, ulong callerId);

        [LoggerMessage(3, LogLevel.Error, "Store write in {Operation} failed.")]
        public static partial void StoreFailed(ILogger logger, string operation, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "{Operation}: a grain could not be reached; the client is told to try again.")]
        private static partial void GrainFailedWithTrace(ILogger logger, string operation, Exception exception);

        [LoggerMessage(6, LogLevel.Warning, "{Operation}: a grain could not be reached ({Reason}); the client is told to try again.")]
        private static partial void GrainFailedBriefly(ILogger logger, string operation, string reason);

        /// <summary>
        /// A timeout or an unreachable silo in one line (Orleans logs the message it was for): under load
        /// they come by the thousand, and their stack traces say nothing the line does not.
        /// </summary>
        public static void GrainFailed(ILogger logger, string operation, Exception exception)
        {
            if (exception is TimeoutException or SiloUnavailableException or OperationCanceledException)
            {
                GrainFailedBriefly(logger, operation, exception.GetType().Name);
            }
            else
            {
                GrainFailedWithTrace(logger, operation, exception);
            }
        }

        [LoggerMessage(5, LogLevel.Warning, "The live counts could not be read; STATS_RESP carries the last ones read.")]
        public static partial void StatsFailed(ILogger logger, Exception exception);
    }
}
