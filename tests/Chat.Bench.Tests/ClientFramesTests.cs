using System.Text.Json;
using Chat.Bench.Connections;

namespace Chat.Bench.Tests;

public sealed class ClientFramesTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    [InlineData(900)]
    public void A_message_frame_is_valid_json_and_its_marks_read_back(int contentBytes)
    {
        var head = ClientFrames.DialogueHead(senderId: 17, sessionId: 99);
        var buffer = new byte[ClientFrames.DialogueCapacity(head.Length, contentBytes)];

        var length = ClientFrames.WriteDialogue(buffer, head, senderIndex: 3, seq: 12345, timestamp: 987654321012, contentBytes);

        using var json = JsonDocument.Parse(buffer.AsMemory(0, length));
        var root = json.RootElement;
        Assert.Equal("DIALOGUE_REQ", root.GetProperty("cmd").GetString());
        Assert.Equal(17UL, root.GetProperty("senderId").GetUInt64());
        Assert.Equal(99UL, root.GetProperty("sessionId").GetUInt64());
        var content = root.GetProperty("content").GetString()!;
        Assert.True(content.Length >= contentBytes);
        Assert.True(ClientFrames.TryReadContent(System.Text.Encoding.UTF8.GetBytes(content), out var sender, out var seq, out var stamp));
        Assert.Equal((3, 12345L, 987654321012L), (sender, seq, stamp));
        Assert.True(ClientFrames.TryReadRequestId(System.Text.Encoding.UTF8.GetBytes(root.GetProperty("requestId").GetString()!), out seq, out stamp));
        Assert.Equal((12345L, 987654321012L), (seq, stamp));
    }

    [Fact]
    public void A_server_frame_is_read_with_keys_in_any_case()
    {
        var frame = """{"CMD":"PUSH_DIALOGUE_REQ","MsgId":7,"senderid":5,"sessionId":9,"content":"b.1.2.3.","sentAt":1}"""u8;

        Assert.True(ServerFrame.TryRead(frame, out var read));

        Assert.Equal(ServerCommand.PushDialogue, read.Command);
        Assert.Equal((7UL, 5UL, 9UL), (read.MsgId, read.SenderId, read.SessionId));
        Assert.Equal("b.1.2.3."u8.ToArray(), frame[read.Content].ToArray());
    }

    [Fact]
    public void A_new_session_signal_names_the_partner()
    {
        var frame = """{"cmd":"PUSH_SIGNAL_REQ","senderId":0,"sessionId":4,"receiverId":2,"signalType":"NewSession","data":{"accountId":8,"nickName":"x"}}"""u8;

        Assert.True(ServerFrame.TryRead(frame, out var read));

        Assert.Equal((SignalKind.NewSession, 8UL, 4UL), (read.Signal, read.DataAccountId, read.SessionId));
    }

    [Fact]
    public void The_seq_set_counts_what_the_other_has_and_it_lacks()
    {
        var accepted = new SeqSet(4);
        var received = new SeqSet(4);
        for (var seq = 1; seq <= 300; seq++)
        {
            accepted.Add(seq);
            if (seq % 100 != 0)
            {
                Assert.True(received.Add(seq));
            }
        }

        Assert.False(received.Add(1));
        Assert.Equal(3, received.CountMissing(accepted));
        Assert.Equal(99, received.CountIn(1, 100));
    }
}
