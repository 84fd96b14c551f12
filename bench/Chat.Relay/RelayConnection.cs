using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Chat.Relay;

/// <summary>
/// One client socket: a receive loop that holds no buffer while idle (zero-byte read first), and
/// one writer at a time (frames are composed into the connection's own buffer under its lock).
/// </summary>
public sealed class RelayConnection(WebSocket socket, Lobby lobby) : IDisposable
{
    private const int MaxFrameBytes = 16 * 1024;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> output = new(512);
    private Utf8JsonWriter? writer;
    private Member? member;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var peek = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
                if (peek.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                var buffer = ArrayPool<byte>.Shared.Rent(MaxFrameBytes);
                try
                {
                    var count = 0;
                    var result = peek;
                    while (!result.EndOfMessage)
                    {
                        if (count == MaxFrameBytes)
                        {
                            await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "frame too big", cancellationToken);
                            return;
                        }

                        result = await socket.ReceiveAsync(buffer.AsMemory(count, MaxFrameBytes - count), cancellationToken);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            return;
                        }

                        count += result.Count;
                    }

                    await HandleAsync(buffer.AsMemory(0, count), cancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
        finally
        {
            if (member is { } m)
            {
                lobby.Leave(m);
                Interlocked.CompareExchange(ref m.Connection, null, this);
            }
        }
    }

    private ValueTask HandleAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        var request = RelayRequest.Read(frame.Span);
        switch (request.Command)
        {
            case RelayCommand.CreateAccount when member is null && !string.IsNullOrWhiteSpace(request.NickName):
            {
                var created = lobby.CreateAccount(request.NickName);
                Bind(created);
                return SendAsync(static (w, a) =>
                {
                    w.WriteString("cmd"u8, "CRT_ACCOUNT_RESP"u8);
                    w.WriteNumber("code"u8, 0);
                    w.WriteString("nickName"u8, a.Member!.NickName);
                    w.WriteNumber("accountId"u8, a.Member.Id);
                    w.WriteString("token"u8, a.Member.Token);
                }, new FrameArgs(created), cancellationToken);
            }
            case RelayCommand.Reconnect when lobby.Find(request.AccountId, request.Token ?? "") is { } found:
            {
                Bind(found);
                return SendAsync(static (w, a) =>
                {
                    w.WriteString("cmd"u8, "RECONNECT_RESP"u8);
                    w.WriteNumber("code"u8, 0);
                    w.WriteNumber("accountId"u8, a.Member!.Id);
                    w.WriteString("nickName"u8, a.Member.NickName);
                }, new FrameArgs(found), cancellationToken);
            }
            case RelayCommand.Reconnect:
                return SendCodeAsync("RECONNECT_RESP", 4, cancellationToken);
            case RelayCommand.Match when member is { } caller:
                return MatchAsync(caller, cancellationToken);
            case RelayCommand.Dialogue when member is { } sender:
                return RelayAsync(sender, request.SessionId, frame[request.RequestId], frame[request.Content], cancellationToken);
            case RelayCommand.Ping:
                return SendAsync(static (w, a) =>
                {
                    w.WriteString("cmd"u8, "PING_RESP"u8);
                    w.WriteNumber("accountId"u8, a.Member?.Id ?? 0);
                }, new FrameArgs(member), cancellationToken);
            case RelayCommand.Ignored:
                return ValueTask.CompletedTask;
            case RelayCommand.CreateAccount:
                return SendCodeAsync("CRT_ACCOUNT_RESP", 1, cancellationToken);
            case RelayCommand.Match:
                return SendCodeAsync("MATCH_RESP", 1, cancellationToken);
            case RelayCommand.Dialogue:
                return SendCodeAsync("DIALOGUE_RESP", 1, cancellationToken);
            default:
                return SendCodeAsync("ERROR_RESP", 1, cancellationToken);
        }
    }

    /// <summary>Drops the socket (its account was bound to another one).</summary>
    public void Abort() => socket.Abort();

    public void Dispose()
    {
        writeLock.Dispose();
        writer?.Dispose();
    }

    private void Bind(Member m)
    {
        member = m;
        var old = Interlocked.Exchange(ref m.Connection, this);
        old?.Abort();
    }

    private async ValueTask MatchAsync(Member caller, CancellationToken cancellationToken)
    {
        if (lobby.Match(caller) is not var (session, partner))
        {
            await SendCodeAsync("MATCH_RESP", 4, cancellationToken);
            return;
        }

        await SendAsync(static (w, a) =>
        {
            w.WriteString("cmd"u8, "MATCH_RESP"u8);
            w.WriteNumber("code"u8, 0);
            w.WriteNumber("partnerId"u8, a.Member!.Id);
            w.WriteString("partnerName"u8, a.Member.NickName);
            w.WriteNumber("sessionId"u8, a.SessionId);
        }, new FrameArgs(partner, SessionId: session.Id), cancellationToken);

        if (partner.Connection is { } other)
        {
            await other.SendAsync(static (w, a) =>
            {
                w.WriteString("cmd"u8, "PUSH_SIGNAL_REQ"u8);
                w.WriteNumber("senderId"u8, 0);
                w.WriteNumber("sessionId"u8, a.SessionId);
                w.WriteNumber("receiverId"u8, a.Number);
                w.WriteString("signalType"u8, "NewSession"u8);
                w.WriteStartObject("data"u8);
                w.WriteNumber("accountId"u8, a.Member!.Id);
                w.WriteString("nickName"u8, a.Member.NickName);
                w.WriteEndObject();
            }, new FrameArgs(caller, Number: partner.Id, SessionId: session.Id), cancellationToken);
        }
    }

    private async ValueTask RelayAsync(Member sender, ulong sessionId, ReadOnlyMemory<byte> requestId, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var session = lobby.FindSession(sessionId);
        if (session?.PartnerOf(sender.Id) is not { } partner || requestId.IsEmpty || content.IsEmpty)
        {
            await SendCodeAsync("DIALOGUE_RESP", 1, cancellationToken);
            return;
        }

        var msgId = session.NextMsgId();
        await SendAsync(static (w, a) =>
        {
            w.WriteString("cmd"u8, "DIALOGUE_RESP"u8);
            w.WriteNumber("code"u8, 0);
            w.WritePropertyName("requestId"u8);
            w.WriteRawValue(a.Bytes.Span, skipInputValidation: true);
            w.WriteNumber("msgId"u8, a.Number);
        }, new FrameArgs(Bytes: requestId, Number: msgId), cancellationToken);

        // No store: a partner without a socket misses the message.
        if (partner.Connection is { } other)
        {
            await other.SendAsync(static (w, a) =>
            {
                w.WriteString("cmd"u8, "PUSH_DIALOGUE_REQ"u8);
                w.WriteNumber("msgId"u8, a.Number);
                w.WriteNumber("senderId"u8, a.SenderId);
                w.WriteNumber("sessionId"u8, a.SessionId);
                w.WritePropertyName("content"u8);
                w.WriteRawValue(a.Bytes.Span, skipInputValidation: true);
                w.WriteNumber("sentAt"u8, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            }, new FrameArgs(Bytes: content, Number: msgId, SenderId: sender.Id, SessionId: sessionId), cancellationToken);
        }
    }

    private ValueTask SendCodeAsync(string cmd, int code, CancellationToken cancellationToken) =>
        SendAsync(static (w, a) =>
        {
            w.WriteString("cmd"u8, a.Text);
            w.WriteNumber("code"u8, a.Number);
        }, new FrameArgs(Text: cmd, Number: (ulong)code), cancellationToken);

    /// <summary>Composes one frame in this connection's buffer and sends it, one writer at a time.</summary>
    private async ValueTask SendAsync(Action<Utf8JsonWriter, FrameArgs> compose, FrameArgs args, CancellationToken cancellationToken)
    {
        if (!writeLock.Wait(0, cancellationToken))
        {
            await writeLock.WaitAsync(cancellationToken);
        }

        try
        {
            output.ResetWrittenCount();
            if (writer is null)
            {
                writer = new Utf8JsonWriter(output);
            }
            else
            {
                writer.Reset(output);
            }

            writer.WriteStartObject();
            compose(writer, args);
            writer.WriteEndObject();
            writer.Flush();
            await socket.SendAsync(output.WrittenMemory, WebSocketMessageType.Text, true, cancellationToken);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            writeLock.Release();
        }
    }
}

/// <summary>What a frame is composed from (a struct, so composing allocates nothing).</summary>
public readonly record struct FrameArgs(
    Member? Member = null,
    ReadOnlyMemory<byte> Bytes = default,
    ulong Number = 0,
    ulong SenderId = 0,
    ulong SessionId = 0,
    string Text = "");
