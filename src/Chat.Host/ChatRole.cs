namespace Chat.Host;

/// <summary>What this process of `chat` is.</summary>
public enum ChatRole
{
    /// <summary>Broker, logic (one silo) and the embedded store in one process: the default.</summary>
    All,

    /// <summary>Sockets and the web client; logic over gRPC; pushes arrive on the Broker gRPC service.</summary>
    Broker,

    /// <summary>An Orleans silo of the logic cluster serving LogicDealer over gRPC; pushes go to the brokers over gRPC.</summary>
    Logic,
}
