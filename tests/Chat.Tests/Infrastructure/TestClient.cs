using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A protocol client over a real ClientWebSocket. A background loop reads every frame into an
/// inbox; tests wait for the frame they expect (bounded by a timeout), and frames they do not ask
/// for stay in the inbox. PING_REQs are answered like the seed's client does, unless told not to.
/// </summary>
public sealed class TestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly ClientWebSocket _socket;
    private readonly List<Frame> _inbox = [];
    // Completed (and replaced) at each frame that arrives, so every waiter wakes: a fault test waits for a signal while
    // the same visitor's sender waits for its answer, and a wake-up taken by one must not be lost to the other.
    private TaskCompletionSource<bool> _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Task _reader;
    private TaskCompletionSource? _frozen;
    private readonly TaskCompletionSource<WebSocketCloseStatus?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestClient(ClientWebSocket socket)
    {
        _socket = socket;
        _reader = Task.Run(ReadLoopAsync);
    }

    public ulong AccountId { get; private set; }

    public string Token { get; private set; } = string.Empty;

    /// <summary>Answer server PING_REQs (the seed's client does). Off: the client falls silent.</summary>
    public bool AnswerPings { get; set; } = true;

    /// <summary>Completes with the close status when the server closes the socket (null: dropped without one).</summary>
    public Task<WebSocketCloseStatus?> Closed => _closed.Task;

    /// <summary>The reason the server gave in its close frame, once <see cref="Closed"/> has completed.</summary>
    public string? CloseReason => _socket.CloseStatusDescription;

    /// <param name="headers">More request headers, as a proxy in front of the server would add them (X-Forwarded-…).</param>
    public static async Task<TestClient> ConnectAsync(Uri uri, string? origin = null, params (string Name, string Value)[] headers)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        foreach (var (name, value) in headers)
        {
            socket.Options.SetRequestHeader(name, value);
        }

        using var timeout = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(uri, timeout.Token);
        return new TestClient(socket);
    }

    public async Task<Frame> CreateAccountAsync(string nickName, bool confirmReceipt = false)
    {
        var response = await RequestAsync(new { cmd = "CRT_ACCOUNT_REQ", nickName, confirmReceipt }, "CRT_ACCOUNT_RESP");
        Assert.Equal(0, response.Code());
        AccountId = response.ULong("accountId");
        Token = response.String("token")!;
        return response;
    }

    /// <summary>RECONNECT_REQ with this client's account and token; returns the response.</summary>
    public async Task<Frame> ReconnectAsync(bool confirmReceipt = false) =>
        await RequestAsync(new { cmd = "RECONNECT_REQ", accountId = AccountId, token = Token, confirmReceipt }, "RECONNECT_RESP");

    /// <summary>A new socket for the same account (the old one dropped): connects and sends RECONNECT_REQ.</summary>
    public async Task<(TestClient Client, Frame Response)> ReconnectOnNewSocketAsync(Uri uri, bool confirmReceipt = false)
    {
        var client = await ConnectAsync(uri);
        client.Adopt(AccountId, Token);
        return (client, await client.ReconnectAsync(confirmReceipt));
    }

    /// <summary>Uses an account created on another socket (for RECONNECT).</summary>
    public void Adopt(ulong accountId, string token)
    {
        AccountId = accountId;
        Token = token;
    }

    public async Task<Frame> SayAsync(ulong sessionId, string content, string? requestId = null)
    {
        requestId ??= Guid.NewGuid().ToString();
        var response = await RequestAsync(
            new { cmd = "DIALOGUE_REQ", requestId, senderId = AccountId, sessionId, content },
            "DIALOGUE_RESP",
            f => f.String("requestId") == requestId);
        return response;
    }

    public async Task<Frame> RequestAsync(object request, string responseCmd, Func<Frame, bool>? match = null)
    {
        await SendAsync(request);
        return await ExpectAsync(responseCmd, match);
    }

    public Task SendAsync(object request) => SendTextAsync(JsonSerializer.Serialize(request));

    public async Task SendTextAsync(string text) => await SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public Task SendRawAsync(byte[] bytes, WebSocketMessageType type) => SendRawAsync(bytes, type, endOfMessage: true);

    /// <summary>Sends the first part of a text frame and not the rest (turn off <see cref="AnswerPings"/> first: a pong would be sent inside it).</summary>
    public Task SendPartOfAFrameAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: false);

    private async Task SendRawAsync(byte[] bytes, WebSocketMessageType type, bool endOfMessage)
    {
        await _sendLock.WaitAsync();
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            await _socket.SendAsync(bytes, type, endOfMessage, timeout.Token);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Waits for the next frame with <paramref name="cmd"/> (and the predicate), taking it out of the inbox.</summary>
    public async Task<Frame> ExpectAsync(string cmd, Func<Frame, bool>? match = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (true)
        {
            Task<bool> arrival;
            lock (_inbox)
            {
                arrival = _arrived.Task;
                var index = _inbox.FindIndex(f => f.Cmd == cmd && (match is null || match(f)));
                if (index >= 0)
                {
                    var frame = _inbox[index];
                    _inbox.RemoveAt(index);
                    return frame;
                }
            }

            try
            {
                if (!await arrival.WaitAsync(cts.Token))
                {
                    throw new ChannelClosedException();
                }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No {cmd} within {timeout ?? Timeout}. Inbox: {string.Join(" | ", Snapshot())}");
            }
            catch (ChannelClosedException)
            {
                lock (_inbox)
                {
                    if (_inbox.Any(f => f.Cmd == cmd && (match is null || match(f))))
                    {
                        continue;
                    }
                }

                throw new InvalidOperationException($"Socket closed before {cmd}. Inbox: {string.Join(" | ", Snapshot())}");
            }
        }
    }

    /// <summary>Frames received and not yet taken.</summary>
    public IReadOnlyList<Frame> Snapshot()
    {
        lock (_inbox)
        {
            return [.. _inbox];
        }
    }

    /// <summary>Takes every frame with <paramref name="cmd"/> currently in the inbox.</summary>
    public IReadOnlyList<Frame> TakeAll(string cmd)
    {
        lock (_inbox)
        {
            var taken = _inbox.Where(f => f.Cmd == cmd).ToList();
            _inbox.RemoveAll(f => f.Cmd == cmd);
            return taken;
        }
    }

    /// <summary>Proves the server has handled everything sent before: a STATS round trip on this socket.</summary>
    public async Task BarrierAsync() => await RequestAsync(new { cmd = "STATS_REQ" }, "STATS_RESP");

    public async Task CloseAsync()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        if (_socket.State == WebSocketState.Open)
        {
            await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }
    }

    /// <summary>Drops the connection without a close frame, as a network failure would.</summary>
    public void Abort() => _socket.Abort();

    /// <summary>Stops reading the socket, as a frozen tab does: what the server sends piles up in the socket's buffers.</summary>
    public void StopReading() => _frozen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _frozen?.TrySetResult();
        try
        {
            await _reader.WaitAsync(Timeout);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or TimeoutException)
        {
        }

        _socket.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                if (_frozen is { } frozen)
                {
                    await frozen.Task;
                }

                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length).ToArraySegment(), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _closed.TrySetResult(result.CloseStatus);
                    return;
                }

                var raw = Encoding.UTF8.GetString(buffer, 0, length);
                var frame = new Frame(JsonDocument.Parse(raw).RootElement.Clone(), raw);
                if (frame.Cmd == "PING_REQ" && AnswerPings)
                {
                    await SendAsync(new { cmd = "PING_RESP", accountId = AccountId });
                    continue;
                }

                TaskCompletionSource<bool> arrived;
                lock (_inbox)
                {
                    _inbox.Add(frame);
                    arrived = _arrived;
                    _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                arrived.TrySetResult(true);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            _closed.TrySetResult(null);
        }
        finally
        {
            lock (_inbox)
            {
                _arrived.TrySetResult(false); // the socket is closed: no frame comes any more
            }
        }
    }
}

internal static class MemoryExtensions
{
    public static ArraySegment<byte> ToArraySegment(this Memory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment : throw new InvalidOperationException();
}
