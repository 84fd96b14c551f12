using Chat.Logic.Accounts;
using Chat.Logic.Storage;
using Chat.Protocol.Seams;

namespace Chat.Logic;

// Delivery: live pushes after commit, replay on resume, and delivered-up-to marks.
public sealed partial class ChatLogic
{
    private const int ReplayPage = 256;

    /// <summary>
    /// Replays what the account's new socket has not received, per session in msgId order, then
    /// lets live pushes through again. The broker calls it after it has sent RECONNECT_RESP.
    /// </summary>
    public async ValueTask ResumeAsync(ulong accountId, ClientEndpoint endpoint, CancellationToken cancellationToken)
    {
        LiveAccount? account;
        ulong[] sessionIds;
        lock (_gate)
        {
            if (!_accounts.TryGetValue(accountId, out account) || account.Endpoint != endpoint)
            {
                return;
            }

            sessionIds = [.. account.Sessions];
        }

        var replayed = 0;
        while (true)
        {
            foreach (var sessionId in sessionIds)
            {
                while (true)
                {
                    ulong after;
                    lock (account)
                    {
                        if (account.Endpoint != endpoint)
                        {
                            return;
                        }

                        after = account.MarksFor(sessionId).PushedUpTo;
                    }

                    var missed = await store.ReadMessagesForAsync(sessionId, accountId, after, ReplayPage, cancellationToken);
                    foreach (var message in missed)
                    {
                        lock (account)
                        {
                            account.MarksFor(sessionId).PushedUpTo = message.Id;
                        }

                        await push.PushDialogueAsync(endpoint, ToPush(message, accountId) with { Replay = true }, cancellationToken);
                        metrics.MessageReplayed();
                        replayed++;
                    }

                    if (missed.Count < ReplayPage)
                    {
                        break;
                    }
                }
            }

            lock (account)
            {
                if (account.Endpoint != endpoint)
                {
                    return;
                }

                if (!account.MissedWhileResuming)
                {
                    account.Resuming = false;
                    break;
                }

                // A message committed while we read: read once more, it is in the store now.
                account.MissedWhileResuming = false;
            }
        }

        Log.Resumed(logger, accountId, endpoint, replayed);
    }

    /// <summary>
    /// Marks messages up to <paramref name="msgId"/> in the session as delivered to the account: the client
    /// confirmed them, or (for clients that never confirm) the socket write completed.
    /// </summary>
    public ValueTask ConfirmDeliveredAsync(ulong accountId, ulong sessionId, ulong msgId, CancellationToken cancellationToken)
    {
        LiveAccount? account;
        lock (_gate)
        {
            _accounts.TryGetValue(accountId, out account);
        }

        if (account is not null)
        {
            lock (account)
            {
                if (account.Deliveries.TryGetValue(sessionId, out var marks) && msgId > marks.DeliveredUpTo && msgId <= marks.PushedUpTo)
                {
                    marks.DeliveredUpTo = msgId;
                    marks.Dirty = true;
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Saves delivered-up-to marks that moved. Lagging marks cost only duplicate replays (de-duplicated by msgId), never loss.</summary>
    public async Task SaveDeliveryMarksAsync(CancellationToken cancellationToken)
    {
        LiveAccount[] accounts;
        lock (_gate)
        {
            accounts = [.. _accounts.Values];
        }

        List<Task>? commits = null;
        foreach (var account in accounts)
        {
            lock (account)
            {
                foreach (var (sessionId, marks) in account.Deliveries)
                {
                    if (marks.Dirty)
                    {
                        marks.Dirty = false;
                        (commits ??= []).Add(writer.WriteAsync(new StoreWrite.DeliveredUpTo(sessionId, account.Id, marks.DeliveredUpTo)));
                    }
                }
            }
        }

        if (commits is not null)
        {
            await Task.WhenAll(commits).WaitAsync(cancellationToken);
        }
    }

    /// <summary>Runs on the store writer's loop right after the message committed, in msgId order.</summary>
    private void DeliverLive(LiveAccount receiver, MessageRecord message)
    {
        metrics.MessageStored();
        ClientEndpoint to;
        lock (receiver)
        {
            if (receiver.Endpoint is not { } endpoint)
            {
                return; // Away: the message waits in the store for the resume.
            }

            if (receiver.Resuming)
            {
                receiver.MissedWhileResuming = true;
                return;
            }

            var marks = receiver.MarksFor(message.SessionId);
            if (message.Id <= marks.PushedUpTo)
            {
                return;
            }

            marks.PushedUpTo = message.Id;
            to = endpoint;
        }

        metrics.MessageDelivered();
        var pushed = push.PushDialogueAsync(to, ToPush(message, receiver.Id), CancellationToken.None);
        if (!pushed.IsCompletedSuccessfully)
        {
            _ = ObservePushAsync(pushed);
        }
    }

    private async Task ObservePushAsync(ValueTask<bool> pushed)
    {
        try
        {
            await pushed;
        }
        catch (Exception ex)
        {
            Log.PushFailed(logger, ex);
        }
    }

    private static DialoguePush ToPush(MessageRecord message, ulong receiverId) =>
        new(message.SenderId, message.SessionId, receiverId, message.Content, message.Id, message.CreatedAtUnixMs);
}
