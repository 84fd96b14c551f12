using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A server and a client WebSocket joined by in-memory pipes, for tests of one connection's send
/// side where the test decides when the client reads: until it does, the server's writer is stuck
/// on its first frame, exactly as behind a full TCP window.
/// </summary>
internal sealed class PipeWebSockets : IDisposable
{
    private readonly Pipe _toClient = new(new PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1));
    private readonly Pipe _toServer = new();

    public PipeWebSockets()
    {
        Server = WebSocket.CreateFromStream(new Duplex(_toServer.Reader.AsStream(), _toClient.Writer.AsStream()), new WebSocketCreationOptions { IsServer = true });
        Client = WebSocket.CreateFromStream(new Duplex(_toClient.Reader.AsStream(), _toServer.Writer.AsStream()), new WebSocketCreationOptions { IsServer = false });
    }

    public WebSocket Server { get; }

    public WebSocket Client { get; }

    /// <summary>Completes once the server has begun writing a frame (and is stuck on it until the client reads); consumes nothing.</summary>
    public async Task ServerHasBegunWritingAsync()
    {
        var result = await _toClient.Reader.ReadAsync();
        _toClient.Reader.AdvanceTo(result.Buffer.Start);
    }

    public void Dispose()
    {
        Server.Dispose();
        Client.Dispose();
    }

    private sealed class Duplex(Stream read, Stream write) : Stream
    {
        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => read.ReadAsync(buffer, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => write.WriteAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => write.Write(buffer, offset, count);

        public override Task FlushAsync(CancellationToken cancellationToken) => write.FlushAsync(cancellationToken);

        public override void Flush() => write.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                read.Dispose();
                write.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
