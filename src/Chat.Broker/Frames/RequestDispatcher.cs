using Chat.Broker.Connections;
using Chat.Broker.Delivery;
using Chat.Broker.Diagnostics;
using Chat.Broker.Limits;
using Chat.Broker.Moderation;
using Chat.Protocol.Frames;
using Chat.Protocol.Seams;

namespace Chat.Broker.Frames;

/// <summary>
/// Carries out one parsed client request: checks the fields the command needs, checks that any id
/// the client names about itself is the socket's own account, asks logic, and queues the response.
/// </summary>
internal sealed class RequestDispatcher(ILogic logic, ConnectionRegistry registry, DeliveryReports deliveries, AddressGate addresses, BanWatch bans, BrokerMetrics metrics)
{
    public ValueTask DispatchAsync(ClientConnection connection, ClientRequest request, CancellationToken cancellationToken) =>
        // A chat message (the hot path) goes straight to its handler, without an async frame of this method's own.
        request.Kind == CommandKind.Dialogue && request.MistypedField is null
            ? SendDialogueAsync(connection, request, cancellationToken)
            : DispatchAnyAsync(connection, request, cancellationToken);

    private async ValueTask DispatchAnyAsync(ClientConnection connection, ClientRequest request, CancellationToken cancellationToken)
    {
        if (request.Kind == CommandKind.Unknown)
        {
            Reply(connection, new StatusResponse(Commands.ErrorResp, ResultCode.ParamErr, request.Cmd is null ? "missing cmd" : "unknown cmd"));
            return;
        }

        if (request.MistypedField is { } field)
        {
            Refuse(connection, request, ResultCode.ParamErr, $"{field} has the wrong type");
            return;
        }

        switch (request.Kind)
        {
            case CommandKind.CreateAccount:
                await CreateAccountAsync(connection, request, cancellationToken);
                break;
            case CommandKind.Reconnect:
                await ReconnectAsync(connection, request, cancellationToken);
                break;
            case CommandKind.Match:
                if (RequireOwnAccount(connection, request, request.AccountId))
                {
                    var wish = new MatchWish(request.Interests, request.Lang, request.Fallback ?? true);
                    var match = await logic.MatchAsync(connection.AccountId, connection.Address, request.Altcha, wish, cancellationToken);
                    if (match.Code == ResultCode.Success)
                    {
                        connection.JoinedSession(match.SessionId);
                    }

                    Reply(connection, match.Code == ResultCode.Success
                        ? new MatchResponse(match.Code, match.PartnerId, match.PartnerName, match.SessionId) { CommonInterests = match.CommonInterests ?? [] }
                        : Refusals.Match(match));
                }

                break;
            case CommandKind.Dialogue:
                await SendDialogueAsync(connection, request, cancellationToken);
                break;
            case CommandKind.ViewedAck:
                if (RequireOwnAccount(connection, request, request.AccountId) && RequireSession(connection, request) && Require(connection, request, request.MsgId, "msgId"))
                {
                    var code = await logic.ViewedAckAsync(connection.AccountId, request.SessionId!.Value, request.MsgId!.Value, cancellationToken);
                    Learn(connection, request.SessionId.Value, code);
                    Reply(connection, new StatusResponse(Commands.ViewedAckResp, code));
                }

                break;
            case CommandKind.EndSession:
                if (RequireOwnAccount(connection, request, request.AccountId) && RequireSession(connection, request))
                {
                    var code = await logic.EndSessionAsync(connection.AccountId, request.SessionId!.Value, cancellationToken);
                    Learn(connection, request.SessionId.Value, code);
                    Reply(connection, new StatusResponse(Commands.EndSessionResp, code, SessionId: request.SessionId));
                }

                break;
            case CommandKind.Report:
                if (RequireOwnAccount(connection, request, request.AccountId) && RequireSession(connection, request) && Require(connection, request, request.Reason, "reason"))
                {
                    var reported = await logic.ReportAsync(connection.AccountId, request.SessionId!.Value, request.Reason!, request.Note, connection.Address, cancellationToken);
                    Learn(connection, request.SessionId.Value, reported.Code);
                    Reply(connection, new StatusResponse(Commands.ReportResp, reported.Code, reported.Message, SessionId: request.SessionId, RetryAfter: reported.RetryAfter));
                }

                break;
            case CommandKind.Typing:
                // No response when it is carried out: typing is a hint, and answering each one would double
                // the traffic. A malformed one is refused like any request (ERROR_RESP code 1). One for a session
                // the socket does not know is dropped, as logic would drop it (nobody types into a chat that
                // ended before this socket), without asking logic.
                if (RequireOwnAccount(connection, request, request.AccountId) && Require(connection, request, request.SessionId, "sessionId")
                    && connection.KnowsSession(request.SessionId!.Value))
                {
                    await logic.TypingAsync(connection.AccountId, request.SessionId!.Value, cancellationToken);
                }

                break;
            case CommandKind.Stats:
                var stats = await logic.GetStatsAsync(cancellationToken);
                Reply(connection, new StatsResponse(ResultCode.Success, stats.Online, stats.Waiting));
                break;
            case CommandKind.Ping:
                Reply(connection, new PingFrame(Commands.PingResp, connection.AccountId));
                break;
            case CommandKind.PushDialogueResp:
                if (connection.AccountId != 0 && request.MsgId is { } delivered && request.SessionId is { } deliveredIn && connection.KnowsSession(deliveredIn))
                {
                    connection.ExpectConfirmations();
                    deliveries.Delivered(connection, deliveredIn, delivered);
                }

                break;
            case CommandKind.PingResp:
            case CommandKind.PushSignalResp:
                break; // Answers to our pushes: any frame already counted as a sign of life.
        }
    }

    /// <summary>Answers a request with its command's response and a non-zero code.</summary>
    public void Refuse(ClientConnection connection, ClientRequest request, ResultCode code, string message)
    {
        if (request.Kind is CommandKind.Typing or CommandKind.PushDialogueResp or CommandKind.PushSignalResp or CommandKind.PingResp)
        {
            Reply(connection, new StatusResponse(Commands.ErrorResp, code, message));
            return;
        }

        var cmd = ClientFrameParser.ResponseOf(request.Kind);
        Reply(connection, new StatusResponse(cmd, code, message, request.Kind == CommandKind.Dialogue ? request.RequestId : null));
    }

    private async ValueTask CreateAccountAsync(ClientConnection connection, ClientRequest request, CancellationToken cancellationToken)
    {
        if (connection.AccountId != 0)
        {
            Refuse(connection, request, ResultCode.ParamErr, "this socket already has an account");
            return;
        }

        if (!Require(connection, request, request.NickName, "nickName"))
        {
            return;
        }

        if (bans.Find(connection.Address, 0) is { } ban)
        {
            Reply(connection, new CreateAccountResponse(ResultCode.Banned, Msg: BanWatch.Message(ban)) { Until = ban.UntilUnixMs, Ref = ban.Ref });
            return;
        }

        if (await addresses.AdmitAccountAsync(connection.Address, request.Altcha) is { IsRefused: true } refused)
        {
            Reply(connection, Refusals.CreateAccount(refused));
            return;
        }

        var created = await logic.CreateAccountAsync(request.NickName!, connection.Endpoint, cancellationToken);
        if (created.Code != ResultCode.Success)
        {
            Reply(connection, new CreateAccountResponse(created.Code, Msg: created.Message));
            return;
        }

        if (request.ConfirmReceipt == true)
        {
            connection.ExpectConfirmations();
        }

        registry.Bind(connection, created.AccountId);
        Reply(connection, new CreateAccountResponse(ResultCode.Success, created.NickName, created.AccountId, created.Token));
    }

    private async ValueTask ReconnectAsync(ClientConnection connection, ClientRequest request, CancellationToken cancellationToken)
    {
        if (!Require(connection, request, request.AccountId, "accountId") || !Require(connection, request, request.Token, "token"))
        {
            return;
        }

        // Not again on a socket that has the account already (that would only replay its chats
        // again), and never 4, on which a client forgets its account.
        var accountId = request.AccountId!.Value;
        if (connection.AccountId != 0)
        {
            Refuse(connection, request, ResultCode.ParamErr, connection.AccountId == accountId ? "this socket has that account already" : "this socket already has another account");
            return;
        }

        // The caller's own address first: saying it is banned tells nothing about the account. An account's
        // ban only once logic has checked the token, so an id alone never tells who is banned.
        if (bans.Find(connection.Address, accountId: 0) is { } addressBan)
        {
            Reply(connection, Banned(addressBan));
            return;
        }

        var result = await logic.ReconnectAsync(accountId, request.Token!, connection.Endpoint, connection.Address, cancellationToken);
        if (result.Code != ResultCode.Success)
        {
            Reply(connection, result.Code switch
            {
                ResultCode.Banned => bans.Find(string.Empty, accountId) is { } accountBan
                    ? Banned(accountBan)
                    : new ReconnectResponse(result.Code, Msg: "this account is banned"), // this broker has not read that ban yet
                ResultCode.RateLimited => new ReconnectResponse(result.Code, Msg: result.Message ?? "too many reconnects: try again later", RetryAfter: result.RetryAfterSeconds),
                ResultCode.NoDataFound => new ReconnectResponse(result.Code, Msg: "unknown account or wrong token"),
                _ => new ReconnectResponse(result.Code, Msg: "try again"),
            });
            return;
        }

        if (request.ConfirmReceipt == true)
        {
            connection.ExpectConfirmations();
        }

        foreach (var session in result.Sessions)
        {
            connection.JoinedSession(session.SessionId);
        }

        registry.Bind(connection, accountId);
        Reply(connection, new ReconnectResponse(ResultCode.Success, accountId, result.NickName, result.Sessions));
        await logic.ResumeAsync(accountId, connection.Endpoint, cancellationToken);
    }

    private static ReconnectResponse Banned(Ban ban) => new(ResultCode.Banned, Msg: BanWatch.Message(ban)) { Until = ban.UntilUnixMs, Ref = ban.Ref };

    private async ValueTask SendDialogueAsync(ClientConnection connection, ClientRequest request, CancellationToken cancellationToken)
    {
        if (!RequireOwnAccount(connection, request, request.SenderId)
            || !RequireSession(connection, request)
            || !Require(connection, request, request.RequestId, "requestId")
            || !Require(connection, request, request.Content, "content"))
        {
            return;
        }

        var sent = await logic.SendAsync(connection.AccountId, request.SessionId!.Value, request.RequestId!, request.Content!, cancellationToken);
        Learn(connection, request.SessionId.Value, sent.Code);

        Reply(connection, sent.Code == ResultCode.Success
            ? new DialogueResponse(sent.Code, request.RequestId, sent.MsgId)
            : new DialogueResponse(sent.Code, request.RequestId, Msg: sent.Message));
    }

    /// <summary>The socket must have an account, and an id the client sent about itself must be that account.</summary>
    private bool RequireOwnAccount(ClientConnection connection, ClientRequest request, ulong? claimedId)
    {
        if (connection.AccountId == 0)
        {
            Refuse(connection, request, ResultCode.ParamErr, "no account on this socket");
            return false;
        }

        if (claimedId is { } claimed && claimed != connection.AccountId)
        {
            Refuse(connection, request, ResultCode.ParamErr, "that id is not this socket's account");
            return false;
        }

        return true;
    }

    /// <summary>
    /// The request names a session: one this socket's client was told of, or one logic may still be
    /// asked about (<see cref="ClientConnection.MayAskOfUnknownSessions"/>).
    /// </summary>
    private bool RequireSession(ClientConnection connection, ClientRequest request)
    {
        if (!Require(connection, request, request.SessionId, "sessionId"))
        {
            return false;
        }

        if (!connection.KnowsSession(request.SessionId!.Value) && !connection.MayAskOfUnknownSessions)
        {
            Refuse(connection, request, ResultCode.ParamErr, "not your session");
            return false;
        }

        return true;
    }

    /// <summary>What logic answered about a session the socket did not know: the account's (carried out, or ended), or not its own.</summary>
    private static void Learn(ClientConnection connection, ulong sessionId, ResultCode code)
    {
        if (code is ResultCode.Success or ResultCode.NoDataFound or ResultCode.ParamErr && !connection.KnowsSession(sessionId))
        {
            connection.AskedOfUnknownSession(sessionId, theirs: code != ResultCode.ParamErr);
        }
    }

    private bool Require<T>(ClientConnection connection, ClientRequest request, T? value, string name)
    {
        if (value is not null)
        {
            return true;
        }

        Refuse(connection, request, ResultCode.ParamErr, $"{name} is required");
        return false;
    }

    private void Reply(ClientConnection connection, CreateAccountResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private void Reply(ClientConnection connection, MatchResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private void Reply(ClientConnection connection, DialogueResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private void Reply(ClientConnection connection, ReconnectResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private void Reply(ClientConnection connection, StatsResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private void Reply(ClientConnection connection, StatusResponse frame) => Send(connection, FrameSerializer.Serialize(frame), frame.Code);

    private static void Reply(ClientConnection connection, PingFrame frame) => connection.TrySend(FrameSerializer.Serialize(frame));

    private void Send(ClientConnection connection, byte[] frame, ResultCode code)
    {
        // NoDataFound answers "no partner yet" to MATCH_REQ: normal, not an error.
        if (code is not (ResultCode.Success or ResultCode.NoDataFound))
        {
            metrics.Error(code);
        }

        connection.TrySend(frame);
    }
}
