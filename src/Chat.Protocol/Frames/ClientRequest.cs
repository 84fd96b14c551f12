namespace Chat.Protocol.Frames;

/// <summary>
/// One client frame, read into a flat bag of the fields any command may carry.
/// Which fields a command needs is checked by the broker when it dispatches.
/// </summary>
public sealed class ClientRequest
{
    public CommandKind Kind { get; set; }

    /// <summary>The <c>cmd</c> text as sent (kept for unknown commands, for the error reply).</summary>
    public string? Cmd { get; set; }

    public string? NickName { get; set; }
    public ulong? AccountId { get; set; }
    public ulong? SenderId { get; set; }
    public ulong? SessionId { get; set; }
    public ulong? MsgId { get; set; }
    public string? RequestId { get; set; }
    public string? Content { get; set; }
    public string? Token { get; set; }
    public int? Code { get; set; }

    /// <summary>Ours: the client will confirm each push with PUSH_DIALOGUE_RESP (CRT_ACCOUNT_REQ, RECONNECT_REQ).</summary>
    public bool? ConfirmReceipt { get; set; }

    /// <summary>Ours: a solved proof-of-work challenge, the base64 JSON payload an ALTCHA widget produces (CRT_ACCOUNT_REQ, MATCH_REQ).</summary>
    public string? Altcha { get; set; }

    /// <summary>Ours: the interests MATCH_REQ asks for, as sent (logic folds and checks them); at most <see cref="ClientFrameParser.MaxInterestsRead"/> are kept.</summary>
    public List<string>? Interests { get; set; }

    /// <summary>Ours: the language MATCH_REQ asks for, a BCP 47 tag.</summary>
    public string? Lang { get; set; }

    /// <summary>Ours: <c>fallback: false</c> asks never to be paired with someone who shares no interest.</summary>
    public bool? Fallback { get; set; }
    /// <summary>Ours: why a partner is reported (REPORT_REQ): spam, harassment, sexual, minor or other.</summary>
    public string? Reason { get; set; }

    /// <summary>Ours: the reporter's own words (REPORT_REQ, optional).</summary>
    public string? Note { get; set; }

    /// <summary>The first known field whose JSON type was wrong, if any.</summary>
    public string? MistypedField { get; set; }

    /// <summary>Clears every field, so one instance can be reused for each frame of a connection.</summary>
    public void Reset()
    {
        Kind = CommandKind.Unknown;
        Cmd = null;
        NickName = null;
        AccountId = null;
        SenderId = null;
        SessionId = null;
        MsgId = null;
        RequestId = null;
        Content = null;
        Token = null;
        Code = null;
        ConfirmReceipt = null;
        Altcha = null;
        Interests = null;
        Lang = null;
        Fallback = null;
        Reason = null;
        Note = null;
        MistypedField = null;
    }
}
