using System.Diagnostics;
using Chat.Logic.Diagnostics;
using ResultCode = Chat.Protocol.Frames.ResultCode;
using Chat.Protocol.Grpc;
using HeldSockets = Chat.Protocol.Seams.HeldSockets;
using System.Threading.Channels;
using Chat.Protocol.Seams;
using Grpc.Core;
using Microsoft.Extensions.Hosting;

namespace Chat.Logic.Grpc;

/// <summary>
/// The seed's <c>LogicDealer</c> service on a logic node: brokers (ours, or the seed's own) call
/// the same <see cref="ILogic"/> the all-in-one broker calls in process. A broker that sends no
/// connection id is the seed's: its socket is found by account id when pushing, it never asks
/// for a replay (so one follows its reconnect at once), and its messages carry no requestId (so
/// each is a new message: the seed's client never retries one).
/// </summary>
/// <remarks>
/// Which broker calls is known from its certificate when the cluster runs on TLS
/// (<see cref="INodeLinks.CallerOf"/>): the broker address a request names must be that one, and a
/// request about an account bound to another broker is answered ParamErr, as if there were no such
/// account. Without TLS every holder of the secret is believed, as the seed's broker needs.
/// </remarks>
internal sealed class LogicDealerService(GrainLogic logic, INodeLinks links, LogicTracing tracing, IHostApplicationLifetime lifetime) : LogicDealer.LogicDealerBase
{
    /// <summary>The most marks one ConfirmDeliveredBatch may carry (a broker's own calls carry at most a quarter of it).</summary>
    public const int MaxMarksPerBatch = 4096;

    public override async Task<CreateAccountResponse> CreateAccount(CreateAccountRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is { } refused)
        {
            return new CreateAccountResponse { Code = CodeEnum.ParamErr, Msg = refused };
        }

        var created = await logic.CreateAccountAsync(request.Nickname, Endpoint(request.Broker, request.ConnectionId, request.Incarnation), context.CancellationToken);
        return new CreateAccountResponse
        {
            Code = created.Code.ToProto(),
            Msg = created.Message ?? string.Empty,
            AccountId = created.AccountId,
            Token = created.Token,
            Nickname = created.NickName,
        };
    }

    public override async Task<MatchResponse> Match(MatchRequest request, ServerCallContext context)
    {
        var match = await logic.MatchAsync(
            request.AccountId, request.Address.Length == 0 ? null : request.Address, request.Altcha.Length == 0 ? null : request.Altcha,
            new MatchWish(request.Interests.Count == 0 ? null : request.Interests, request.Lang.Length == 0 ? null : request.Lang, !request.NoFallback, request.AfterLostAnswer),
            ViaBroker(context), context.CancellationToken);
        var response = new MatchResponse
        {
            Code = match.Code.ToProto(),
            Msg = match.Message ?? string.Empty,
            PartnerId = match.PartnerId,
            PartnerName = match.PartnerName ?? string.Empty,
            SessionId = match.SessionId,
            RetryAfter = match.RetryAfter ?? 0,
            Challenge = match.Challenge?.ToProto(),
        };
        if (match.CommonInterests is { } common)
        {
            response.CommonInterests.Add(common);
        }

        return response;
    }

    public override async Task<AdmissionResponse> AdmitSocket(AdmitSocketRequest request, ServerCallContext context)
    {
        if ((string.IsNullOrEmpty(request.Address) ? "address is required" : BrokerRefused(request.Broker, context)) is { } refused)
        {
            return new AdmissionResponse { Code = CodeEnum.ParamErr, Msg = refused };
        }

        return (await logic.AdmitSocketAsync(request.Address, request.Broker, context.CancellationToken)).ToProto();
    }

    public override async Task<SocketClosedResponse> SocketClosed(SocketClosedRequest request, ServerCallContext context)
    {
        // A broker frees only the counts of its own sockets.
        if (BrokerRefused(request.Broker, context) is not null)
        {
            return new SocketClosedResponse { Code = CodeEnum.ParamErr };
        }

        await logic.SocketClosedAsync(request.Address, request.Broker, context.CancellationToken);
        return new SocketClosedResponse { Code = CodeEnum.Success };
    }

    public override async Task<ReportSocketsResponse> ReportSockets(ReportSocketsRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is not null)
        {
            return new ReportSocketsResponse { Code = CodeEnum.ParamErr };
        }

        await logic.ReportSocketsAsync(request.Broker, [.. request.Held.Select(h => new HeldSockets(h.Address, h.Count))], context.CancellationToken);
        return new ReportSocketsResponse { Code = CodeEnum.Success };
    }

    public override async Task<AdmissionResponse> AdmitAccount(AdmitAccountRequest request, ServerCallContext context) =>
        string.IsNullOrEmpty(request.Address)
            ? new AdmissionResponse { Code = CodeEnum.ParamErr, Msg = "address is required" }
            : (await logic.AdmitAccountAsync(request.Address, request.Altcha.Length == 0 ? null : request.Altcha, context.CancellationToken)).ToProto();

    public override async Task<ReportResponse> Report(ReportRequest request, ServerCallContext context)
    {
        var reported = await logic.ReportAsync(
            request.AccountId, request.SessionId, request.Reason, request.Note.Length == 0 ? null : request.Note, request.Address.Length == 0 ? null : request.Address,
            ViaBroker(context), context.CancellationToken);
        return new ReportResponse { Code = reported.Code.ToProto(), Msg = reported.Message ?? string.Empty, RetryAfter = reported.RetryAfter ?? 0 };
    }

    public override async Task<ReadBansResponse> ReadBans(ReadBansRequest request, ServerCallContext context) =>
        (await logic.ReadBansAsync(request.KnownVersion, context.CancellationToken)).ToProto();

    public override Task<SendMsgResponse> SendMsg(SendMsgRequest request, ServerCallContext context) =>
        SendAsync(request, ViaBroker(context), context.CancellationToken);

    /// <summary>
    /// Many sends on one stream (ours, the broker's hot path): each request is handled as it comes,
    /// as a unary <see cref="SendMsg"/> would be, without waiting for the ones before it (they are
    /// other visitors' messages); each answer goes back with the request's <c>call</c> as soon as it
    /// is ready. The stream ends when the broker ends it, or when this node stops (it reads no more
    /// requests, so the broker sends the rest to another node, and the server's graceful stop does not
    /// wait for a stream that would never end), once every answer is written.
    /// </summary>
    public override async Task SendStream(IAsyncStreamReader<SendMsgRequest> requestStream, IServerStreamWriter<SendMsgResponse> responseStream, ServerCallContext context)
    {
        var answers = Channel.CreateUnbounded<SendMsgResponse>(new UnboundedChannelOptions { SingleReader = true });
        var writing = WriteAnswersAsync(answers.Reader, responseStream, context.CancellationToken);
        var inFlight = 1; // the reading loop's own count: the channel closes when the loop and every send are done
        void Done()
        {
            if (Interlocked.Decrement(ref inFlight) == 0)
            {
                answers.Writer.TryComplete();
            }
        }

        var viaBroker = ViaBroker(context); // one broker per stream
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(reading.Token))
            {
                Interlocked.Increment(ref inFlight);
                _ = AnswerAsync(request);
            }
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            Done();
        }

        await writing;

        async Task AnswerAsync(SendMsgRequest request)
        {
            SendMsgResponse answer;
            try
            {
                answer = await SendAsync(request, viaBroker, context.CancellationToken);
            }
            catch (Exception)
            {
                answer = new SendMsgResponse { Code = CodeEnum.InternalErr, Failed = true }; // the broker tries another node, as after a failed unary call
            }

            answer.Call = request.Call;
            answers.Writer.TryWrite(answer);
            Done();
        }
    }

    private async Task<SendMsgResponse> SendAsync(SendMsgRequest request, string? viaBroker, CancellationToken cancellationToken)
    {
        if (request.Msgtype != MsgTypeEnum.Dialogue)
        {
            return new SendMsgResponse { Code = CodeEnum.ParamErr, Msg = "only dialogue messages are sent" };
        }

        // A send on the stream joins the trace of the client's frame (the stream's own span lasts for hours); null unless tracing is on.
        using var span = tracing.Source.StartActivity("SendMsg", ActivityKind.Server, TraceParent.Parse(request.Traceparent));
        span?.SetTag("chat.session_id", request.SessionId);
        var requestId = string.IsNullOrEmpty(request.RequestId) ? $"seed:{Guid.NewGuid():N}" : request.RequestId;
        var sent = await logic.SendAsync(request.SenderId, request.SessionId, requestId, request.Content, viaBroker, cancellationToken);
        return new SendMsgResponse { Code = sent.Code.ToProto(), Msg = sent.Message ?? string.Empty, MsgId = sent.MsgId, Owner = sent.Owner ?? string.Empty };
    }

    private static async Task WriteAnswersAsync(ChannelReader<SendMsgResponse> answers, IServerStreamWriter<SendMsgResponse> responseStream, CancellationToken cancellationToken)
    {
        await foreach (var answer in answers.ReadAllAsync(cancellationToken))
        {
            await responseStream.WriteAsync(answer, cancellationToken);
        }
    }

    // Logout and Resume name the socket (broker and connection id): the account acts on them only while
    // that is its socket, so naming another broker's visitor changes nothing.
    public override async Task<LogoutResponse> Logout(LogoutRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is { } refused)
        {
            return new LogoutResponse { Code = CodeEnum.ParamErr, Msg = refused };
        }

        var how = request.How == LeaveKindEnum.Closed ? LeaveKind.Closed : LeaveKind.Lost;
        await logic.LogoutAsync(request.AccountId, Endpoint(request.Broker, request.ConnectionId, request.Incarnation), how, context.CancellationToken);
        return new LogoutResponse { Code = CodeEnum.Success };
    }

    public override async Task<ViewedAckResponse> ViewedAck(ViewedAckRequest request, ServerCallContext context) =>
        new() { Code = (await logic.ViewedAckAsync(request.AccountId, request.SessionId, request.MsgId, ViaBroker(context), context.CancellationToken)).ToProto() };

    public override async Task<ReConnectResponse> Reconnect(ReConnectRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is { } refused)
        {
            return new ReConnectResponse { Code = CodeEnum.ParamErr, Msg = refused, AccountId = request.AccountId };
        }

        var endpoint = Endpoint(request.Broker, request.ConnectionId, request.Incarnation);
        var result = await logic.ReconnectAsync(request.AccountId, request.Token, endpoint, request.Address.Length == 0 ? null : request.Address, context.CancellationToken);
        var response = new ReConnectResponse
        {
            Code = result.Code.ToProto(),
            Msg = result.Message ?? string.Empty,
            AccountId = result.AccountId,
            Nickname = result.NickName,
            RetryAfter = (uint)result.RetryAfterSeconds,
        };
        response.Sessions.AddRange(result.Sessions.Select(s => new SessionSummary
        {
            SessionId = s.SessionId,
            PartnerId = s.PartnerId,
            PartnerName = s.PartnerName,
            PartnerOnline = s.PartnerOnline,
            PartnerReadUpTo = s.PartnerReadUpTo,
        }));
        if (result.Code == ResultCode.Success && request.ConnectionId == 0)
        {
            await logic.ResumeAsync(request.AccountId, endpoint, context.CancellationToken); // the seed's broker never asks
        }

        return response;
    }

    public override async Task<ResumeResponse> Resume(ResumeRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is not null)
        {
            return new ResumeResponse { Code = CodeEnum.ParamErr };
        }

        await logic.ResumeAsync(request.AccountId, Endpoint(request.Broker, request.ConnectionId, request.Incarnation), context.CancellationToken);
        return new ResumeResponse { Code = CodeEnum.Success };
    }

    public override async Task<ConfirmDeliveredResponse> ConfirmDelivered(ConfirmDeliveredRequest request, ServerCallContext context)
    {
        var viaBroker = ViaBroker(context);
        var code = ResultCode.Success;
        foreach (var mark in request.Marks)
        {
            if (await logic.ConfirmDeliveredAsync(request.AccountId, mark.SessionId, mark.MsgId, viaBroker, context.CancellationToken) is not ResultCode.Success and var refused)
            {
                code = refused; // the other marks still count: each is about one session
            }
        }

        return new ConfirmDeliveredResponse { Code = code.ToProto() };
    }

    public override async Task<ConfirmDeliveredResponse> ConfirmDeliveredBatch(ConfirmDeliveredBatchRequest request, ServerCallContext context)
    {
        // A broker sends at most DeliveryReports.MarksPerCall; a call many times larger is not one of ours (counted before anything is built for it).
        var count = 0;
        foreach (var account in request.Accounts)
        {
            count += account.Marks.Count;
        }

        if (count > MaxMarksPerBatch)
        {
            return new ConfirmDeliveredResponse { Code = CodeEnum.ParamErr };
        }

        var reports = new List<DeliveryReport>(count);
        foreach (var account in request.Accounts)
        {
            foreach (var mark in account.Marks)
            {
                reports.Add(new DeliveryReport(account.AccountId, mark.SessionId, mark.MsgId));
            }
        }

        var code = await logic.ConfirmDeliveredAsync(reports, ViaBroker(context), context.CancellationToken);
        return new ConfirmDeliveredResponse { Code = code.ToProto() };
    }

    public override async Task<EndSessionResponse> EndSession(EndSessionRequest request, ServerCallContext context) =>
        new() { Code = (await logic.EndSessionAsync(request.AccountId, request.SessionId, ViaBroker(context), context.CancellationToken)).ToProto() };

    public override async Task<TypingResponse> Typing(TypingRequest request, ServerCallContext context) =>
        new() { Code = (await logic.TypingAsync(request.AccountId, request.SessionId, ViaBroker(context), context.CancellationToken)).ToProto() };

    public override async Task<StatsResponse> GetStats(StatsRequest request, ServerCallContext context)
    {
        var stats = await logic.GetStatsAsync(context.CancellationToken);
        return new StatsResponse { Code = CodeEnum.Success, Online = stats.Online, Waiting = stats.Waiting };
    }

    public override async Task<BrokerStartedResponse> BrokerStarted(BrokerStartedRequest request, ServerCallContext context)
    {
        if (BrokerRefused(request.Broker, context) is not null)
        {
            return new BrokerStartedResponse { Code = CodeEnum.ParamErr };
        }

        await logic.BrokerStartedAsync(request.Broker, request.Incarnation, context.CancellationToken);
        return new BrokerStartedResponse { Code = CodeEnum.Success };
    }

    /// <summary>The calling broker's address as its certificate names it; null without TLS (anyone with the secret is believed).</summary>
    private string? ViaBroker(ServerCallContext context) => links.CallerOf(context).BrokerAddress;

    /// <summary>
    /// Why a broker address named in a request is refused: not host:port (logic dials it, and the housekeeper
    /// checks it, for as long as an account is bound to it), or, with TLS, not the calling broker's own.
    /// </summary>
    private string? BrokerRefused(string broker, ServerCallContext context)
    {
        if (NodeAddress.Problem(broker) is { } problem)
        {
            return $"broker {problem}";
        }

        return ViaBroker(context) is { } caller && caller != broker ? "broker is not the calling broker's address" : null;
    }

    private static ClientEndpoint Endpoint(string broker, ulong connectionId, long incarnation) => new(broker, connectionId, incarnation);
}
