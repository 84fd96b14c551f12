using System.Buffers;
using System.Buffers.Binary;
using System.Text.Unicode;
using Chat.Relay.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace Chat.Relay;

/// <summary>Kestrel hands every accepted socket straight to this handler: no HTTP pipeline, no middleware.</summary>
public sealed class RelayConnectionHandler(Lobby lobby, RelayHeartbeat heartbeat) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        try
        {
            if (!await Handshake.AcceptAsync(connection.Transport, connection.ConnectionClosed))
            {
                return;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            return;
        }

        await new RelayConnection(connection, lobby, heartbeat).RunAsync();
    }
}

/// <summary>
/// One client socket after the handshake. Its read loop parses frames straight out of Kestrel's
/// input pipe and answers on the thread that read them: replies and pushes are composed directly
/// into the receiver's output pipe under that connection's lock and flushed at once, with no queue
/// and no hop. Nothing is held between frames but Kestrel's own buffers.
/// </summary>
public sealed class RelayConnection(ConnectionContext context, Lobby lobby, RelayHeartbeat heartbeat)
{
    /// <summary>The largest text message, as the server's <c>Chat:Broker:MaxFrameBytes</c>.</summary>
    public const int MaxMessageBytes = 16 * 1024;

    // Room for everything of a reply but its variable parts (ids, tokens, the nickname).
    private const int ReplyOverhead = 256;

    private readonly Lock gate = new();
    private bool closed;
    private Member? member;
    private byte[]? fragments;
    private int fragmentsLength;
    private int slice = -1;
    private long lastSeen;

    /// <summary>When the client last sent anything (a <see cref="TimeProvider"/> timestamp).</summary>
    public long LastSeen => Volatile.Read(ref lastSeen);

    public async Task RunAsync()
    {
        var input = context.Transport.Input;
        lastSeen = heartbeat.Timestamp();
        if (heartbeat.Enabled)
        {
            slice = heartbeat.Add(this);
        }

        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                if (slice >= 0)
                {
                    Volatile.Write(ref lastSeen, heartbeat.Timestamp());
                }

                var buffer = result.Buffer;
                var stop = ReadFrames(ref buffer);
                input.AdvanceTo(buffer.Start, buffer.End);
                if (stop || result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
        }
        finally
        {
            Leave();
        }
    }

    /// <summary>Drops the socket (its account was bound to another one, or it fell silent).</summary>
    public void Abort(string why = "replaced by another connection") => context.Abort(new ConnectionAbortedException(why));

    /// <summary>Handles every whole frame at the start of <paramref name="buffer"/>; true when the connection ends.</summary>
    private bool ReadFrames(ref ReadOnlySequence<byte> buffer)
    {
        byte[]? scratch = null;
        try
        {
            while (true)
            {
                var read = Frames.TryReadHeader(buffer, out var header);
                if (read == HeaderRead.Incomplete)
                {
                    return false;
                }

                if (read == HeaderRead.ProtocolError)
                {
                    return Fail(CloseStatus.ProtocolError);
                }

                // Refused before its payload is waited for, so no more than a message is ever buffered.
                if (!header.IsControl && header.PayloadLength > MaxMessageBytes - fragmentsLength)
                {
                    return Fail(CloseStatus.MessageTooBig);
                }

                if (buffer.Length - header.HeaderLength < header.PayloadLength)
                {
                    return false;
                }

                var payload = buffer.Slice(header.HeaderLength, header.PayloadLength);
                buffer = buffer.Slice(payload.End);
                scratch ??= ArrayPool<byte>.Shared.Rent(MaxMessageBytes);
                var data = scratch.AsSpan(0, (int)payload.Length);
                payload.CopyTo(data);
                Frames.Unmask(data, header.Mask);

                switch (header.Opcode)
                {
                    case Opcode.Text when fragments is null && header.Fin:
                        if (!Utf8.IsValid(data))
                        {
                            return Fail(CloseStatus.InvalidPayload);
                        }

                        OnMessage(data);
                        break;
                    case Opcode.Text when fragments is null:
                        fragments = ArrayPool<byte>.Shared.Rent(MaxMessageBytes);
                        data.CopyTo(fragments);
                        fragmentsLength = data.Length;
                        break;
                    case Opcode.Continuation when fragments is not null:
                        data.CopyTo(fragments.AsSpan(fragmentsLength));
                        fragmentsLength += data.Length;
                        if (header.Fin)
                        {
                            var message = fragments.AsSpan(0, fragmentsLength);
                            if (!Utf8.IsValid(message))
                            {
                                return Fail(CloseStatus.InvalidPayload);
                            }

                            OnMessage(message);
                            ReturnFragments();
                        }

                        break;
                    case Opcode.Binary:
                        return Fail(CloseStatus.UnsupportedData);
                    case Opcode.Close:
                        return OnClose(data);
                    case Opcode.Ping:
                        SendControl(Opcode.Pong, data);
                        break;
                    case Opcode.Pong:
                        break;
                    default:
                        // A continuation with nothing to continue, a new message inside a fragmented one, a reserved opcode.
                        return Fail(CloseStatus.ProtocolError);
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    private bool OnClose(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0)
        {
            SendControl(Opcode.Close, []);
            return true;
        }

        var status = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : (ushort)0;
        var valid = status is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999) && Utf8.IsValid(payload[2..]);
        return Fail(valid ? status : CloseStatus.ProtocolError);
    }

    /// <summary>Sends a close frame with <paramref name="status"/>; the connection then ends.</summary>
    private bool Fail(ushort status)
    {
        Span<byte> code = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(code, status);
        SendControl(Opcode.Close, code);
        return true;
    }

    private void OnMessage(ReadOnlySpan<byte> frame)
    {
        var request = RelayRequest.Read(frame);
        switch (request.Command)
        {
            case RelayCommand.Dialogue when member is { } sender:
                Relay(sender, request.SessionId, frame[request.RequestId], frame[request.Content]);
                break;
            case RelayCommand.CreateAccount when member is null && !string.IsNullOrWhiteSpace(request.NickName):
                var created = lobby.CreateAccount(request.NickName);
                Bind(created);
                SendAccount("{\"cmd\":\"CRT_ACCOUNT_RESP\",\"code\":0,\"accountId\":"u8, created, withToken: true);
                break;
            case RelayCommand.Reconnect when lobby.Find(request.AccountId, request.Token ?? "") is { } found:
                Bind(found);
                SendAccount("{\"cmd\":\"RECONNECT_RESP\",\"code\":0,\"accountId\":"u8, found, withToken: false);
                break;
            case RelayCommand.Reconnect:
                SendCode("RECONNECT_RESP"u8, 4);
                break;
            case RelayCommand.Match when member is { } caller:
                Match(caller);
                break;
            case RelayCommand.Ping:
                SendPing("{\"cmd\":\"PING_RESP\",\"accountId\":"u8);
                break;
            case RelayCommand.Typing when member is { } typist:
                // No response, as the server's; the partner's page shows "typing…".
                if (lobby.FindSession(request.SessionId)?.PartnerOf(typist.Id) is { } listener)
                {
                    listener.Connection?.SendTyping(typist.Id, listener.Id, request.SessionId);
                }

                break;
            case RelayCommand.ViewedAck when member is { } reader:
                if (lobby.FindSession(request.SessionId)?.PartnerOf(reader.Id) is not { } writer || request.MsgId == 0)
                {
                    SendCode("VIEWED_ACK_RESP"u8, 1);
                    break;
                }

                // No read mark is kept: the relay has no store and no reconnect that would report it.
                SendCode("VIEWED_ACK_RESP"u8, 0);
                writer.Connection?.SendPushViewedAck(request.SessionId, reader.Id, request.MsgId);
                break;
            case RelayCommand.Ignored:
                break;
            case RelayCommand.CreateAccount:
                SendCode("CRT_ACCOUNT_RESP"u8, 1);
                break;
            case RelayCommand.Match:
                SendCode("MATCH_RESP"u8, 1);
                break;
            case RelayCommand.Dialogue:
                SendCode("DIALOGUE_RESP"u8, 1);
                break;
            case RelayCommand.ViewedAck:
                SendCode("VIEWED_ACK_RESP"u8, 1);
                break;
            case RelayCommand.Typing:
                break;
            default:
                SendCode("ERROR_RESP"u8, 1);
                break;
        }
    }

    private void Bind(Member m)
    {
        member = m;
        var old = Interlocked.Exchange(ref m.Connection, this);
        if (old is not null && old != this)
        {
            old.Abort();
        }
    }

    private void Match(Member caller)
    {
        if (lobby.Match(caller) is not var (session, partner))
        {
            SendCode("MATCH_RESP"u8, 4);
            return;
        }

        SendMatched(partner, session.Id);
        partner.Connection?.SendNewSession(caller, partner.Id, session.Id);
    }

    private void Relay(Member sender, ulong sessionId, ReadOnlySpan<byte> requestId, ReadOnlySpan<byte> content)
    {
        var session = lobby.FindSession(sessionId);
        if (session?.PartnerOf(sender.Id) is not { } partner || requestId.IsEmpty || content.IsEmpty)
        {
            SendCode("DIALOGUE_RESP"u8, 1);
            return;
        }

        var msgId = session.NextMsgId();
        SendDialogueResp(requestId, msgId);
        // No store: a partner without a socket misses the message.
        partner.Connection?.SendPushDialogue(content, msgId, sender.Id, sessionId);
    }

    private void SendDialogueResp(ReadOnlySpan<byte> requestId, ulong msgId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(requestId.Length, out var text);
        text.Raw("{\"cmd\":\"DIALOGUE_RESP\",\"code\":0,\"requestId\":"u8);
        text.Raw(requestId);
        text.Raw(",\"msgId\":"u8);
        text.Number(msgId);
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendPushDialogue(ReadOnlySpan<byte> content, ulong msgId, ulong senderId, ulong sessionId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(content.Length, out var text);
        text.Raw("{\"cmd\":\"PUSH_DIALOGUE_REQ\",\"msgId\":"u8);
        text.Number(msgId);
        text.Raw(",\"senderId\":"u8);
        text.Number(senderId);
        text.Raw(",\"sessionId\":"u8);
        text.Number(sessionId);
        text.Raw(",\"content\":"u8);
        text.Raw(content);
        text.Raw(",\"sentAt\":"u8);
        text.Number(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendAccount(ReadOnlySpan<byte> head, Member m, bool withToken)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(m.NickNameJson.Length + m.TokenUtf8.Length, out var text);
        text.Raw(head);
        text.Number(m.Id);
        text.Raw(",\"nickName\":"u8);
        text.String(m.NickNameJson);
        if (withToken)
        {
            text.Raw(",\"token\":"u8);
            text.String(m.TokenUtf8);
        }

        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendMatched(Member partner, ulong sessionId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(partner.NickNameJson.Length, out var text);
        text.Raw("{\"cmd\":\"MATCH_RESP\",\"code\":0,\"partnerId\":"u8);
        text.Number(partner.Id);
        text.Raw(",\"partnerName\":"u8);
        text.String(partner.NickNameJson);
        text.Raw(",\"sessionId\":"u8);
        text.Number(sessionId);
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendNewSession(Member newPartner, ulong receiverId, ulong sessionId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(newPartner.NickNameJson.Length, out var text);
        text.Raw("{\"cmd\":\"PUSH_SIGNAL_REQ\",\"senderId\":0,\"sessionId\":"u8);
        text.Number(sessionId);
        text.Raw(",\"receiverId\":"u8);
        text.Number(receiverId);
        text.Raw(",\"signalType\":\"NewSession\",\"data\":{\"accountId\":"u8);
        text.Number(newPartner.Id);
        text.Raw(",\"nickName\":"u8);
        text.String(newPartner.NickNameJson);
        text.Raw("}}"u8);
        Commit(span, text.Length);
    }

    /// <summary>The heartbeat's PING_REQ to this socket.</summary>
    public void SendPing() => SendPing("{\"cmd\":\"PING_REQ\",\"accountId\":"u8);

    /// <summary>PING_REQ or PING_RESP (<paramref name="head"/>) with this socket's account.</summary>
    private void SendPing(ReadOnlySpan<byte> head)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(0, out var text);
        text.Raw(head);
        text.Number(member?.Id ?? 0);
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendTyping(ulong typistId, ulong receiverId, ulong sessionId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(0, out var text);
        text.Raw("{\"cmd\":\"PUSH_SIGNAL_REQ\",\"senderId\":"u8);
        text.Number(typistId);
        text.Raw(",\"sessionId\":"u8);
        text.Number(sessionId);
        text.Raw(",\"receiverId\":"u8);
        text.Number(receiverId);
        text.Raw(",\"signalType\":\"Typing\",\"data\":{\"accountId\":"u8);
        text.Number(typistId);
        text.Raw("}}"u8);
        Commit(span, text.Length);
    }

    private void SendPushViewedAck(ulong sessionId, ulong readerId, ulong msgId)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(0, out var text);
        text.Raw("{\"cmd\":\"PUSH_VIEWED_ACK_REQ\",\"sessionId\":"u8);
        text.Number(sessionId);
        text.Raw(",\"accountId\":"u8);
        text.Number(readerId);
        text.Raw(",\"msgId\":"u8);
        text.Number(msgId);
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendCode(ReadOnlySpan<byte> cmd, int code)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var span = Begin(cmd.Length, out var text);
        text.Raw("{\"cmd\":"u8);
        text.String(cmd);
        text.Raw(",\"code\":"u8);
        text.Number(code);
        text.Raw("}"u8);
        Commit(span, text.Length);
    }

    private void SendControl(Opcode opcode, ReadOnlySpan<byte> payload)
    {
        using var scope = gate.EnterScope();
        if (closed)
        {
            return;
        }

        var output = context.Transport.Output;
        var span = output.GetSpan(2 + payload.Length);
        var header = Frames.WriteHeader(span, opcode, payload.Length);
        payload.CopyTo(span[header..]);
        output.Advance(header + payload.Length);
        Flush();
        if (opcode == Opcode.Close)
        {
            closed = true;
        }
    }

    /// <summary>Room in the output pipe for a text frame; its JSON goes after the largest header. Under the gate.</summary>
    private Span<byte> Begin(int variableBytes, out FrameText text)
    {
        var span = context.Transport.Output.GetSpan(Frames.MaxServerHeader + ReplyOverhead + variableBytes);
        text = new FrameText(span[Frames.MaxServerHeader..]);
        return span;
    }

    /// <summary>Puts the header right in front of the JSON (moving it back if the header is short) and sends. Under the gate.</summary>
    private void Commit(Span<byte> span, int length)
    {
        var header = Frames.HeaderLength(length);
        if (header != Frames.MaxServerHeader)
        {
            span.Slice(Frames.MaxServerHeader, length).CopyTo(span[header..]);
        }

        Frames.WriteHeader(span, Opcode.Text, length);
        context.Transport.Output.Advance(header + length);
        Flush();
    }

    /// <summary>Under the gate. A flush that cannot finish at once means the client let the transport's write buffer fill: it is not reading, so it is dropped.</summary>
    private void Flush()
    {
        var flush = context.Transport.Output.FlushAsync();
        if (!flush.IsCompletedSuccessfully)
        {
            closed = true;
            context.Abort(new ConnectionAbortedException("the client does not read"));
            return;
        }

        if (flush.Result.IsCompleted)
        {
            closed = true;
        }
    }

    private void ReturnFragments()
    {
        if (fragments is not null)
        {
            ArrayPool<byte>.Shared.Return(fragments);
            fragments = null;
            fragmentsLength = 0;
        }
    }

    private void Leave()
    {
        if (slice >= 0)
        {
            heartbeat.Remove(this, slice);
        }

        if (member is { } m)
        {
            lobby.Leave(m);
            Interlocked.CompareExchange(ref m.Connection, null, this);
        }

        using (gate.EnterScope())
        {
            closed = true;
        }

        ReturnFragments();
    }
}
