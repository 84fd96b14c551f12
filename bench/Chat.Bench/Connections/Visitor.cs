using System.Diagnostics;
using System.Net.WebSockets;

namespace Chat.Bench.Connections;

/// <summary>
/// One simulated visitor: a socket, its account and partner, and what it saw. Its receive loop is
/// the only reader of its counters while it runs; the coordinator reads them after the run (or
/// racily while polling for progress, which is fine for a progress check).
/// </summary>
public sealed class Visitor(int index, VisitorConnector connector, Traffic traffic, int receiveBufferBytes = 4096) : IDisposable
{
    private readonly SemaphoreSlim sendLock = new(1, 1);
    private ClientWebSocket? socket;
    private Task receiving = Task.CompletedTask;
    private byte[] receiveBuffer = new byte[receiveBufferBytes];
    private byte[] sendBuffer = [];
    private byte[] dialogueHead = [];
    private byte[] pingResp = [];
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

    /// <summary>How many times this visitor was told it has a (new) partner.</summary>
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
    public long LastAckAt { get; private set; }

    /// <summary>Sequence numbers received from the partner, and own ones the server accepted.</summary>
    public SeqSet Received { get; } = new(1024);
    public SeqSet Accepted { get; } = new(1024);

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        socket = await connector.OpenAsync(cancellationToken);
        Online = true;
        receiving = ReceiveLoopAsync(socket, cancellationToken);
    }

    public async Task<ServerFrame> CreateAccountAsync(string nickName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var reply = await RequestAsync(ClientFrames.CreateAccount(nickName), ServerCommand.CreateAccountResp, timeout, cancellationToken);
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
    public Task<ServerFrame> MatchAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        RequestAsync(ClientFrames.Match(AccountId), ServerCommand.MatchResp, timeout, cancellationToken);

    /// <summary>Binds the account to a new socket (after <see cref="Abort"/>).</summary>
    public async Task<ServerFrame> ReconnectAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await ConnectAsync(cancellationToken);
        return await RequestAsync(ClientFrames.Reconnect(AccountId, Token ?? ""), ServerCommand.ReconnectResp, timeout, cancellationToken);
    }

    /// <summary>Sends the next message, stamped with <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public async ValueTask SendMessageAsync(long timestamp, CancellationToken cancellationToken)
    {
        if (!sendLock.Wait(0, cancellationToken))
        {
            await sendLock.WaitAsync(cancellationToken);
        }

        try
        {
            if (socket is not { } s || !Online || dialogueHead.Length == 0
                || (traffic.MessageLimit != 0 && lastSentSeq >= traffic.MessageLimit))
            {
                return;
            }

            var seq = lastSentSeq + 1;
            var length = ClientFrames.WriteDialogue(sendBuffer, dialogueHead, index, seq, timestamp, traffic.ContentBytes);
            Volatile.Write(ref lastSentSeq, seq);
            await s.SendAsync(sendBuffer.AsMemory(0, length), WebSocketMessageType.Text, true, cancellationToken);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException)
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
                await s.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bench done", cts.Token);
            }
            finally
            {
                sendLock.Release();
            }

            await receiving.WaitAsync(cts.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            s.Abort();
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

    private async ValueTask SendRawAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (!sendLock.Wait(0, cancellationToken))
        {
            await sendLock.WaitAsync(cancellationToken);
        }

        try
        {
            if (socket is { } s)
            {
                await s.SendAsync(frame, WebSocketMessageType.Text, true, cancellationToken);
            }
        }
        finally
        {
            sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync(ClientWebSocket s, CancellationToken cancellationToken)
    {
        var count = 0;
        try
        {
            while (true)
            {
                var result = await s.ReceiveAsync(receiveBuffer.AsMemory(count), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                count += result.Count;
                if (!result.EndOfMessage)
                {
                    if (count == receiveBuffer.Length)
                    {
                        Array.Resize(ref receiveBuffer, receiveBuffer.Length * 2);
                    }

                    continue;
                }

                await OnFrameAsync(count, cancellationToken);
                count = 0;
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            Online = false;
            Volatile.Read(ref pendingReply)?.TrySetException(new WebSocketException("the socket closed"));
        }
    }

    private ValueTask OnFrameAsync(int length, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        var frameBytes = receiveBuffer.AsSpan(0, length);
        if (!ServerFrame.TryRead(frameBytes, out var frame))
        {
            Unexpected++;
            return ValueTask.CompletedTask;
        }

        switch (frame.Command)
        {
            case ServerCommand.PushDialogue:
                OnPushDialogue(frameBytes, in frame, now);
                return ValueTask.CompletedTask;
            case ServerCommand.DialogueResp:
                return OnDialogueRespAsync(frameBytes, frame, now, cancellationToken);
            case ServerCommand.PingReq:
                return pingResp.Length == 0 ? ValueTask.CompletedTask : SendRawAsync(pingResp, cancellationToken);
            case ServerCommand.PushSignal:
                if (frame.Signal == SignalKind.NewSession)
                {
                    OnPaired(frame.DataAccountId, frame.SessionId, now);
                }
                else if (frame.Signal == SignalKind.PartnerExit)
                {
                    PartnerExits++;
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
        sendBuffer = new byte[ClientFrames.DialogueCapacity(dialogueHead.Length, traffic.ContentBytes)];
        paired.TrySetResult();
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
            OutOfOrder++;
        }

        maxSeqSeen = Math.Max(maxSeqSeen, seq);
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
