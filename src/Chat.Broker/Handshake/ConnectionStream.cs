using System.Buffers;
using System.IO.Pipelines;

namespace Chat.Broker.Handshake;

/// <summary>
/// A connection's pipes as the stream a <see cref="System.Net.WebSockets.WebSocket"/> reads and writes.
/// A zero-byte read waits for data without taking any (so an idle socket holds no receive buffer, as
/// over Kestrel's upgraded request stream). Disposing it cancels a pending read or flush, so an abort
/// of the WebSocket ends what waits on a client that reads nothing.
/// </summary>
internal sealed class ConnectionStream(IDuplexPipe transport) : Stream
{
    private readonly PipeReader _input = transport.Input;
    private readonly PipeWriter _output = transport.Output;
    private volatile bool _disposed;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var result = await _input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                throw new OperationCanceledException("the stream was disposed while a read waited");
            }

            if (buffer.IsEmpty)
            {
                _input.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    return 0;
                }

                continue;
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
