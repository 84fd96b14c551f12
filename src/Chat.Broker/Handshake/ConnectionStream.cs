using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Chat.Broker.Handshake;

/// <summary>
/// A connection's pipes as the stream a <see cref="System.Net.WebSockets.WebSocket"/> reads and writes.
/// A zero-byte read waits for data without taking any (so an idle socket holds no receive buffer, as
/// over Kestrel's upgraded request stream). Disposing it cancels a pending read or flush, so an abort
/// of the WebSocket ends what waits on a client that reads nothing.
/// </summary>
internal sealed class ConnectionStream(IDuplexPipe transport) : Stream, IValueTaskSource<int>
{
    private readonly PipeReader _input = transport.Input;
    private readonly PipeWriter _output = transport.Output;
    private volatile bool _disposed;

    // The one read that waits on the pipe (the WebSocket reads one at a time).
    private ManualResetValueTaskSourceCore<int> _read;
    private ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _pending;
    private Memory<byte> _destination;
    private CancellationToken _cancellation;
    private Action? _onRead;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <remarks>
    /// No state machine per read: a read that has to wait parks on the pipe with this stream's one
    /// completion (<see cref="IValueTaskSource{TResult}"/>), so an idle socket's pending read costs no
    /// object of its own and a frame read costs no allocation. The WebSocket reads one at a time.
    /// </remarks>
    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            var pending = _input.ReadAsync(cancellationToken);
            if (!pending.IsCompleted)
            {
                _destination = destination;
                _cancellation = cancellationToken;
                _read.Reset();
                _pending = pending.ConfigureAwait(false).GetAwaiter();
                _pending.UnsafeOnCompleted(_onRead ??= OnRead);
                return new ValueTask<int>(this, _read.Version);
            }

            if (Take(pending.GetAwaiter().GetResult(), destination) is { } taken)
            {
                return new ValueTask<int>(taken);
            }
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    /// <summary>The pipe had something for a read that waited: it completes, or (nothing to take yet) waits again.</summary>
    private void OnRead()
    {
        int taken;
        try
        {
            while (true)
            {
                if (Take(_pending.GetResult(), _destination) is { } got)
                {
                    taken = got;
                    break;
                }

                var pending = _input.ReadAsync(_cancellation);
                _pending = pending.ConfigureAwait(false).GetAwaiter();
                if (!pending.IsCompleted)
                {
                    _pending.UnsafeOnCompleted(_onRead!);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            _destination = default;
            _read.SetException(ex);
            return;
        }

        // Outside the try: the reader's continuation runs inline here, and may already read again.
        _destination = default;
        _read.SetResult(taken);
    }

    /// <summary>What a read returns for what the pipe gave (consumed as far as it goes), or null when there was nothing yet.</summary>
    private int? Take(ReadResult result, Memory<byte> destination)
    {
        var buffer = result.Buffer;
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("the stream was disposed while a read waited");
        }

        if (buffer.IsEmpty)
        {
            _input.AdvanceTo(buffer.End);
            return result.IsCompleted ? 0 : null;
        }

        if (destination.IsEmpty)
        {
            _input.AdvanceTo(buffer.Start); // data has come: the next read takes it
            return 0;
        }

        var taken = (int)Math.Min(buffer.Length, destination.Length);
        var copied = buffer.Slice(0, taken);
        copied.CopyTo(destination.Span);
        _input.AdvanceTo(copied.End);
        return taken;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = await _output.WriteAsync(source, cancellationToken);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("the stream was disposed while a write waited");
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = await _output.FlushAsync(cancellationToken);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("the stream was disposed while a flush waited");
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous reads only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous writes only");

    public override void Flush() => throw new NotSupportedException("asynchronous flushes only");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _input.CancelPendingRead();
            _output.CancelPendingFlush();
        }

        base.Dispose(disposing);
    }
}
