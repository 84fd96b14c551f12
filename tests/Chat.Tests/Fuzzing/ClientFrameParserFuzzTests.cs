using System.Text;
using Chat.Protocol.Frames;
using CsCheck;

namespace Chat.Tests.Fuzzing;

/// <summary>
/// The client frame parser against generated and mutated payloads: it never throws, and it reads
/// each one as the protocol says (<see cref="FrameReading"/>, worked out with JsonDocument instead).
/// </summary>
public sealed class ClientFrameParserFuzzTests
{
    [Fact]
    public void Fuzzed_payloads_never_throw_and_are_read_as_the_protocol_says()
    {
        var request = new ClientRequest();
        HostileJson.Payload.Sample(payload =>
        {
            request.Reset();
            var outcome = ClientFrameParser.Parse(payload, request);
            var reading = FrameReading.Of(payload);
            var what = Encoding.UTF8.GetString(payload);
            Assert.True((outcome == ClientFrameParser.Outcome.Malformed) == (reading is null), $"malformed: {outcome}, expected {(reading is null ? "Malformed" : "Ok")}: {what}");
            if (reading is not null)
            {
                Assert.True(reading.Cmd == request.Cmd, $"cmd {request.Cmd}, expected {reading.Cmd}: {what}");
                Assert.True(string.Equals(reading.Mistyped, request.MistypedField, StringComparison.OrdinalIgnoreCase), $"mistyped {request.MistypedField}, expected {reading.Mistyped}: {what}");
            }
        }, iter: 200_000, threads: 1, print: p => Encoding.UTF8.GetString(p));
    }
}
