namespace Chat.Protocol.Frames;

/// <summary>The client-to-server commands the server understands.</summary>
public enum CommandKind
{
    Unknown = 0,
    CreateAccount,
    Match,
    Dialogue,
    PushDialogueResp,
    PushSignalResp,
    Ping,
    PingResp,
    ViewedAck,
    Reconnect,
    EndSession,
    Typing,
    Stats,
    Report,
}
