namespace Chat.Protocol.Frames;

/// <summary>The <c>cmd</c> values of the client protocol (seed names first, then our additions).</summary>
public static class Commands
{
    public const string CreateAccountReq = "CRT_ACCOUNT_REQ";
    public const string CreateAccountResp = "CRT_ACCOUNT_RESP";
    public const string MatchReq = "MATCH_REQ";
    public const string MatchResp = "MATCH_RESP";
    public const string DialogueReq = "DIALOGUE_REQ";
    public const string DialogueResp = "DIALOGUE_RESP";
    public const string PushDialogueReq = "PUSH_DIALOGUE_REQ";
    public const string PushDialogueResp = "PUSH_DIALOGUE_RESP";
    public const string PushSignalReq = "PUSH_SIGNAL_REQ";
    public const string PushSignalResp = "PUSH_SIGNAL_RESP";
    public const string PingReq = "PING_REQ";
    public const string PingResp = "PING_RESP";
    public const string ViewedAckReq = "VIEWED_ACK_REQ";
    public const string ViewedAckResp = "VIEWED_ACK_RESP";
    public const string PushViewedAckReq = "PUSH_VIEWED_ACK_REQ";
    public const string ReconnectReq = "RECONNECT_REQ";
    public const string ReconnectResp = "RECONNECT_RESP";

    // Our additions (docs/protocol.md, "Extensions").
    public const string EndSessionReq = "END_SESSION_REQ";
    public const string EndSessionResp = "END_SESSION_RESP";
    public const string TypingReq = "TYPING_REQ";
    public const string StatsReq = "STATS_REQ";
    public const string StatsResp = "STATS_RESP";
    public const string ErrorResp = "ERROR_RESP";
    public const string ReportReq = "REPORT_REQ";
    public const string ReportResp = "REPORT_RESP";
}

/// <summary>The <c>signalType</c> values of PUSH_SIGNAL_REQ.</summary>
public static class SignalTypes
{
    public const string NewSession = "NewSession";
    public const string PartnerExit = "PartnerExit";

    // Our additions.
    public const string PartnerAway = "PartnerAway";
    public const string PartnerBack = "PartnerBack";
    public const string Typing = "Typing";
}
