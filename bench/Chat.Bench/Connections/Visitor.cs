using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Chat.Bench.Connections;

/// <summary>
/// One simulated visitor: a socket, its account and partner, and what it saw. Its receive loop is
/// the only reader of its counters while it runs; the coordinator reads them after the run (or
/// racily while polling for progress, which is fine for a progress check).
/// </summary>
public sealed class Visitor(int index, VisitorConnector connector, Traffic traffic, int receiveBufferBytes = 4096) : IDisposable
{
    private const int InternalErr = 2;
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(100);
    private readonly SemaphoreSlim sendLock = new(1, 1);
    private VisitorSocket? socket;
    private Task receiving = Task.CompletedTask;

    /// <summary>The message frame being sent: <see cref="VisitorSocket.HeaderRoom"/> bytes, then the payload.</summary>
    private byte[] sendBuffer = [];
    private byte[] dialogueHead = [];
    private byte[] pingResp = [];
    private byte[] typingReq = [];

    /// <summary>Where the receive loop writes a page's confirmation and read receipt (it alone uses it).</summary>
    private readonly byte[] ackScratch = new byte[ClientFrames.AckCapacity];
    private ulong lastViewedAck;
    private TaskCompletionSource<ServerFrame>? pendingReply;
    private ServerCommand pendingCommand;
    private readonly TaskCompletionSource paired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long lastSentSeq;
    private long maxSeqSeen;
    private ulong lastMsgId;

    public int Index => index;
    public ulong AccountId { get; private set; }
    public string? Token { get; private set; }
    public ulong PartnerId { get; private set; }
    public ulong SessionId { get; private set; }
    public int PartnerIndex { get; private set; } = -1;
    public bool Online { get; private set; }

    /// <summary>How many chats this visitor was told of (one told twice, by NewSession and MATCH_RESP, counts once).</summary>
    public int Pairings { get; private set; }
    public long PairedAt { get; private set; }
    public Task Paired => paired.Task;

    public long Sent => Volatile.Read(ref lastSentSeq);
    public long AckedOk { get; private set; }
    public long Acks { get; private set; }
    public Dictionary<int, long> Rejected { get; } = [];
    public long Delivered { get; private set; }
    public long Duplicates { get; private set; }
    public long OutOfOrder { get; private set; }
    public long Misrouted { get; private set; }
    public long MsgIdRegressions { get; private set; }
    public long PartnerExits { get; private set; }
    public long Unexpected { get; private set; }
    public long LastDeliveryAt { get; private set; }

    /// <summary>TYPING_REQ sent (the pacer's typing lead).</summary>
    public long TypingSent { get; private set; }

    /// <summary>Typing signals received from the partner.</summary>
    public long TypingSignals { get; private set; }

    /// <summary>PUSH_DIALOGUE_RESP sent (as a page: one per push).</summary>
    public long PushesConfirmed { get; private set; }

    /// <summary>VIEWED_ACK_REQ sent, and their VIEWED_ACK_RESP with code 0 and with another code.</summary>
    public long ViewedAcksSent { get; private set; }
    public long ViewedAcksOk { get; private set; }
    public long ViewedAcksRefused { get; private set; }

    /// <summary>The partner's read receipts (PUSH_VIEWED_ACK_REQ) received.</summary>
    public long ReadReceipts { get; private set; }

    /// <summary>The server's PING_REQ answered with PING_RESP.</summary>
    public long PingsAnswered { get; private set; }

    /// <summary>Refused sends sent again.</summary>
    public long Retried { get; private set; }

    /// <summary>Messages from the partner that arrived after later ones because they were refused and sent again (see <see cref="Traffic.SentAgain"/>).</summary>
    public long LateAfterRetry { get; private set; }

    /// <summary>The longest wait between two messages from the partner, once measuring started.</summary>
    public TimeSpan LongestSilence { get; private set; }
    public long LastAckAt { get; private set; }

    /// <summary>Sequence numbers received from the partner, and own ones the server accepted.</summary>
    public SeqSet Received { get; } = new(1024);
    public SeqSet Accepted { get; } = new(1024);

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        socket = await connector.OpenAsync(receiveBufferBytes, cancellationToken);
        Online = true;
        receiving = ReceiveLoopAsync(socket, cancellationToken);
    }

    public async Task<ServerFrame> CreateAccountAsync(string nickName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var reply = await RequestAsync(ClientFrames.CreateAccount(nickName, confirmReceipt: traffic.ActsAsPage), ServerCommand.CreateAccountResp, timeout, cancellationToken);
        if (reply.Code == 0)
        {
            AccountId = reply.AccountId;
            Token = reply.Token;
            pingResp = ClientFrames.PingResp(AccountId);
            traffic.IndexOfAccount[AccountId] = index;
        }

        return reply;
    }

    /// <summary>Asks to be matched; the reply is code 0 (paired now) or 4 (waiting for a NewSession signal).</summary>
    public Task<ServerFrame> MatchAsync(TimeSpan timeout, CancellationToken cancellationToken, IReadOnlyList<string>? interests = null) =>
        RequestAsync(ClientFrames.Match(AccountId, interests), ServerCommand.MatchResp, timeout, cancellationToken);

    /// <summary>Binds the account to a new socket (after <see cref="Abort"/>).</summary>
    public async Task<ServerFrame> ReconnectAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await ConnectAsync(cancellationToken);
        return await RequestAsync(ClientFrames.Reconnect(AccountId, Token ?? ""), ServerCommand.ReconnectResp, timeout, cancellationToken);
    }

    /// <summary>Sends the next message, stamped with <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public ValueTask SendMessageAsync(long timestamp, CancellationToken cancellationToken) => SendMessageAsync(0, timestamp, cancellationToken);

    /// <summary>Tells the partner this visitor is typing (TYPING_REQ), as the page does when a person starts a message.</summary>
    public async ValueTask SendTypingAsync(CancellationToken cancellationToken)
    {
        if (typingReq.Length == 0 || !Online)
        {
            return;
        }

        TypingSent++;
        try
        {
            await SendRawAsync(typingReq, cancellationToken);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // The socket went; the receive loop notices and marks the visitor offline.
        }
    }

    /// <summary>Sends message <paramref name="again"/> again (its requestId, its first stamp) after a pause, as a client whose send was refused does.</summary>
    private async Task SendAgainAsync(long again, long timestamp, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(RetryPause, cancellationToken);
            await SendMessageAsync(again, timestamp, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async ValueTask SendMessageAsync(long again, long timestamp, CancellationToken cancellationToken)
    {
        if (!sendLock.Wait(0, cancellationToken))
        {
            await sendLock.WaitAsync(cancellationToken);
        }

        try
        {
            if (socket is not { } s || !Online || dialogueHead.Length == 0
                || (again == 0 && traffic.MessageLimit != 0 && lastSentSeq >= traffic.MessageLimit))
            {
                return;
            }

            var seq = again != 0 ? again : lastSentSeq + 1;
            var length = ClientFrames.WriteDialogue(sendBuffer.AsSpan(VisitorSocket.HeaderRoom), dialogueHead, index, seq, timestamp, traffic.ContentBytes);
            if (again == 0)
            {
                Volatile.Write(ref lastSentSeq, seq);
            }

            var send = s.SendAsync(sendBuffer, length);
            if (!send.IsCompletedSuccessfully)
            {
                await send;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // The socket went; the receive loop notices and marks the visitor offline.
        }
        finally
        {
            sendLock.Release();
        }
    }

    /// <summary>Drops the socket without a close frame, as a lost network would.</summary>
    public async Task AbortAsync()
    {
        Online = false;
        socket?.Abort();
        await receiving;
        socket?.Dispose();
        socket = null;
    }

    public async Task CloseAsync(TimeSpan timeout)
    {
        if (socket is not { } s)
        {
            return;
        }

        try
        {
            using var cts = new CancellationTokenSource(timeout);
            if (!sendLock.Wait(0, cts.Token))
            {
                await sendLock.WaitAsync(cts.Token);
            }

            try
            {
                Online = false;
                await s.SendCloseAsync(WebSocketCloseStatus.NormalClosure);
            }
            finally
            {
                sendLock.Release();
            }

            await receiving.WaitAsync(cts.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException or TimeoutException)
        {
        }
        finally
        {
            s.Dispose();
        }
    }

    private async Task<ServerFrame> RequestAsync(byte[] frame, ServerCommand reply, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var pending = new TaskCompletionSource<ServerFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        pendingCommand = reply;
        Volatile.Write(ref pendingReply, pending);
        await SendRawAsync(frame, cancellationToken);
        return await pending.Task.WaitAsync(timeout, cancellationToken);
    }

    private async ValueTask SendRawAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) =>
        await SendRawAsync(frame, WebSocketOpcode.Text, cancellationToken);

    private async ValueTask SendRawAsync(ReadOnlyMemory<byte> frame, WebSocketOpcode opcode, CancellationToken cancellationToken)
    {
        if (!sendLock.Wait(0, cancellationToken))
        {
            await sendLock.WaitAsync(cancellationToken);
        }

        try
        {
            if (socket is { } s)
            {
                await s.SendCopyAsync(frame.Span, opcode);
            }
        }
        finally
        {
            sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync(VisitorSocket s, CancellationToken cancellationToken)
    {
        // One registration for the socket's life instead of one per receive and send.
        await using var stop = cancellationToken.Register(s.Abort);
        try
        {
            while (s.Received(await s.ReceiveAsync()))
            {
                while (s.TryTake(out var incoming))
                {
                    if (incoming.Opcode == WebSocketOpcode.Close)
                    {
                        return;
                    }

                    var handled = incoming.Opcode == WebSocketOpcode.Ping
                        ? SendRawAsync(incoming.Payload.ToArray(), WebSocketOpcode.Pong, cancellationToken)
                        : OnFrameAsync(incoming.Payload.Span, cancellationToken);
                    if (!handled.IsCompletedSuccessfully)
                    {
                        await handled;
                    }
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            Online = false;
            Volatile.Read(ref pendingReply)?.TrySetException(new WebSocketException("the socket closed"));
        }
    }

    private ValueTask OnFrameAsync(ReadOnlySpan<byte> frameBytes, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        if (!ServerFrame.TryRead(frameBytes, out var frame))
        {
            Unexpected++;
            return ValueTask.CompletedTask;
        }

        switch (frame.Command)
        {
            case ServerCommand.PushDialogue:
                OnPushDialogue(frameBytes, in frame, now);
                return traffic.ActsAsPage ? SendPageAcksAsync(frame.SessionId, frame.MsgId, cancellationToken) : ValueTask.CompletedTask;
            case ServerCommand.DialogueResp:
                return OnDialogueRespAsync(frameBytes, frame, now, cancellationToken);
            case ServerCommand.PingReq:
                if (pingResp.Length == 0)
                {
                    return ValueTask.CompletedTask;
                }

                PingsAnswered++;
                return SendRawAsync(pingResp, cancellationToken);
            case ServerCommand.ViewedAckResp:
                if (frame.Code == 0)
                {
                    ViewedAcksOk++;
                }
                else
                {
                    ViewedAcksRefused++;
                }

                return ValueTask.CompletedTask;
            case ServerCommand.PushViewedAck:
                ReadReceipts++;
                return ValueTask.CompletedTask;
            case ServerCommand.PushSignal:
                if (frame.Signal == SignalKind.NewSession)
                {
                    OnPaired(frame.DataAccountId, frame.SessionId, now);
                }
                else if (frame.Signal == SignalKind.PartnerExit)
                {
                    PartnerExits++;
                }
                else if (frame.Signal == SignalKind.Typing)
                {
                    TypingSignals++;
                }

                return ValueTask.CompletedTask;
            case ServerCommand.MatchResp when frame.Code == 0:
                OnPaired(frame.PartnerId, frame.SessionId, now);
                break;
        }

        var pending = Volatile.Read(ref pendingReply);
        if (pending is not null && frame.Command == pendingCommand)
        {
            Volatile.Write(ref pendingReply, null);
            pending.TrySetResult(frame);
        }
        else if (frame.Command is not (ServerCommand.MatchResp or ServerCommand.Other))
        {
            Unexpected++;
        }

        return ValueTask.CompletedTask;
    }

    private void OnPaired(ulong partnerId, ulong sessionId, long now)
    {
        if (Pairings > 0 && sessionId == SessionId)
        {
            return; // told of its chat twice (NewSession after a lost MATCH_RESP, then the answer to its retry): one chat, as pages count it
        }

        Pairings++;
        if (Pairings > 1)
        {
            return;
        }

        PartnerId = partnerId;
        SessionId = sessionId;
        PairedAt = now;
        PartnerIndex = traffic.IndexOfAccount.TryGetValue(partnerId, out var i) ? i : -1;
        dialogueHead = ClientFrames.DialogueHead(AccountId, sessionId);
        typingReq = ClientFrames.Typing(sessionId);
        sendBuffer = new byte[VisitorSocket.HeaderRoom + ClientFrames.DialogueCapacity(dialogueHead.Length, traffic.ContentBytes)];
        paired.TrySetResult();
    }

    /// <summary>
    /// What the web client does with a push in the open, visible conversation: it confirms it
    /// (every push, shown or not), then sends a read receipt if the message is newer than the last
    /// one it acknowledged. Two frames, as the page sends them.
    /// </summary>
    private async ValueTask SendPageAcksAsync(ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        var length = ClientFrames.WritePushDialogueResp(ackScratch, sessionId, msgId);
        PushesConfirmed++;
        await SendRawAsync(ackScratch.AsMemory(0, length), cancellationToken);
        if (msgId > lastViewedAck)
        {
            lastViewedAck = msgId;
            length = ClientFrames.WriteViewedAck(ackScratch, sessionId, AccountId, msgId);
            ViewedAcksSent++;
            await SendRawAsync(ackScratch.AsMemory(0, length), cancellationToken);
        }
    }

    private void OnPushDialogue(ReadOnlySpan<byte> frameBytes, in ServerFrame frame, long now)
    {
        if (!ClientFrames.TryReadContent(frameBytes[frame.Content], out var senderIndex, out var seq, out var stamp)
            || frame.SenderId != PartnerId || frame.SessionId != SessionId || (PartnerIndex >= 0 && senderIndex != PartnerIndex))
        {
            Misrouted++;
            return;
        }

        if (frame.MsgId <= lastMsgId)
        {
            MsgIdRegressions++;
        }

        lastMsgId = Math.Max(lastMsgId, frame.MsgId);
        if (!Received.Add(seq))
        {
            Duplicates++;
            return;
        }

        if (seq < maxSeqSeen)
        {
            if (traffic.SentAgain.ContainsKey((senderIndex, seq)))
            {
                LateAfterRetry++;
            }
            else
            {
                OutOfOrder++;
            }
        }

        maxSeqSeen = Math.Max(maxSeqSeen, seq);
        if (LastDeliveryAt >= traffic.MeasureFrom && Stopwatch.GetElapsedTime(LastDeliveryAt, now) is var silence && silence > LongestSilence)
        {
            LongestSilence = silence;
        }

        Delivered++;
        LastDeliveryAt = now;
        if (stamp >= traffic.MeasureFrom)
        {
            traffic.EndToEnd.Record(stamp, now);
        }
    }

    private ValueTask OnDialogueRespAsync(ReadOnlySpan<byte> frameBytes, ServerFrame frame, long now, CancellationToken cancellationToken)
    {
        if (!ClientFrames.TryReadRequestId(frameBytes[frame.RequestId], out var seq, out var stamp))
        {
            Unexpected++;
            return ValueTask.CompletedTask;
        }

        if (frame.Code == InternalErr && traffic.RetryRefused && !traffic.StopSending)
        {
            Retried++;
            traffic.SentAgain.TryAdd((index, seq), 0);
            _ = SendAgainAsync(seq, stamp, cancellationToken);
            return ValueTask.CompletedTask;
        }

        Acks++;
        LastAckAt = now;
        if (frame.Code == 0)
        {
            AckedOk++;
            Accepted.Add(seq);
        }
        else
        {
            Rejected[frame.Code] = Rejected.GetValueOrDefault(frame.Code) + 1;
        }

        if (stamp >= traffic.MeasureFrom)
        {
            traffic.Ack.Record(stamp, now);
        }

        if (traffic.ClosedLoop && !traffic.StopSending)
        {
            return SendMessageAsync(Stopwatch.GetTimestamp(), cancellationToken);
        }

        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        socket?.Dispose();
        sendLock.Dispose();
    }
}
