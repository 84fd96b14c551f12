using Chat.Logic.Filtering;
using Chat.Testing.Files;
using Chat.Tests.Diagnostics;
using Chat.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static Chat.Tests.Infrastructure.Exposition;

namespace Chat.Tests.Filtering;

/// <summary>
/// The message filter over a real socket: a refused message gets DIALOGUE_RESP code 1 with a msg,
/// nothing is stored or delivered; the links rule, the operator's word list (reloaded when its file
/// changes) and the classifier webhook (a stub on a loopback port) each refuse; a retry of a message
/// already stored is never refused. Runs with the metrics tests (alone).
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class MessageFilterTests
{
    [Fact]
    public async Task A_link_in_a_senders_first_three_messages_is_refused_with_a_msg_and_never_reaches_the_partner_and_passes_after()
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        foreach (var spam in new[] { "hi! see https://spam.example/x", "add me: snap: hotgirl99", "mail me at me@example.org", "@hotgirl99 on insta", "visit spam dot com" })
        {
            var refused = await bob.SayAsync(sessionId, spam);
            Assert.Equal(1, refused.Code());
            Assert.False(refused.Has("msgId"));
            Assert.Contains("first 3 messages", refused.String("msg"), StringComparison.Ordinal);
        }

        // Alice's own first message is hers to count; Bob's refused ones did not count for him.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await bob.SayAsync(sessionId, $"plain {i}. Me too")).Code());
        }

        var link = await bob.SayAsync(sessionId, "now: https://example.org/page");
        Assert.Equal(0, link.Code());
        var received = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            received.Add((await alice.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content")!);
        }

        Assert.Equal(["plain 0. Me too", "plain 1. Me too", "plain 2. Me too", "now: https://example.org/page"], received);
        Assert.Equal(0, (await alice.SayAsync(sessionId, "a first message with no link")).Code());
        Assert.Equal(5, Value(await ReadAsync(server.HttpUri), "chat_messages_filtered_total", "filter=\"links\""));
    }

    [Fact]
    public async Task The_word_list_refuses_its_entries_and_a_changed_file_applies_once_reread()
    {
        using var folder = TempFolder.Create("chat-words-");
        var words = folder.File("words.txt");
        await File.WriteAllLinesAsync(words, ["# the operator's list", "badword", "buy   followers", "/fr[e3]{2}\\s*coins/"]);
        await using var server = await ChatServer.StartAsync($"Chat:Filter:Words:File={words}", "Chat:Filter:Words:Message=Not sent: that word is not allowed here.");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        foreach (var refusedText in new[] { "a BADWORD here", "buy followers now", "get FR33 coins" })
        {
            var refused = await alice.SayAsync(sessionId, refusedText);
            Assert.Equal(1, refused.Code());
            Assert.Equal("Not sent: that word is not allowed here.", refused.String("msg"));
        }

        Assert.Equal(0, (await alice.SayAsync(sessionId, "badwords are whole words only")).Code());
        var earlier = await alice.SayAsync(sessionId, "newword, still fine", requestId: "earlier");
        Assert.Equal(0, earlier.Code());

        var filter = server.Get<WordListFilter>();
        var reread = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        filter.Reloaded += list =>
        {
            if (list.Matches("a newword") && !list.Matches("a badword"))
            {
                reread.TrySetResult();
            }
        };
        await File.WriteAllLinesAsync(words, ["newword"]);
        await reread.Task.WaitAsync(TestClient.Timeout);

        Assert.Equal(1, (await alice.SayAsync(sessionId, "the newword")).Code());
        Assert.Equal(0, (await alice.SayAsync(sessionId, "the badword")).Code());

        // A retry of a message stored before the change is its first attempt, not a new message to refuse.
        var retried = await alice.SayAsync(sessionId, "newword, still fine", requestId: "earlier");
        Assert.Equal(0, retried.Code());
        Assert.Equal(earlier.ULong("msgId"), retried.ULong("msgId"));

        Assert.Equal(4, Value(await ReadAsync(server.HttpUri), "chat_messages_filtered_total", "filter=\"words\""));
    }

    [Fact]
    public async Task A_retry_of_a_message_whose_commit_answer_was_lost_is_not_refused_by_a_rule_added_since()
    {
        using var folder = TempFolder.Create("chat-words-");
        var words = folder.File("words.txt");
        await File.WriteAllLinesAsync(words, ["nothing-yet"]);
        var store = new LostAnswerStore();
        await using var server = await ChatServer.StartWithServicesAsync(services => services.AddSingleton<Chat.Logic.Storage.IChatStore>(store), $"Chat:Filter:Words:File={words}");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        store.LoseNextAnswer();
        Assert.Equal(2, (await alice.SayAsync(sessionId, "hello there", requestId: "lost")).Code()); // stored, but the grain heard of a failure

        var reread = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Get<WordListFilter>().Reloaded += list =>
        {
            if (list.Matches("hello"))
            {
                reread.TrySetResult();
            }
        };
        await File.WriteAllLinesAsync(words, ["hello"]);
        await reread.Task.WaitAsync(TestClient.Timeout);

        var retried = await alice.SayAsync(sessionId, "hello there", requestId: "lost");
        Assert.Equal(0, retried.Code());
        Assert.Equal(await store.FindMessageIdAsync(sessionId, alice.AccountId, "lost", CancellationToken.None), retried.ULong("msgId"));
        Assert.Equal(1, (await alice.SayAsync(sessionId, "hello again")).Code()); // a new message is refused
    }

    [Fact]
    public async Task The_classifier_webhook_is_asked_signed_once_per_message_and_its_refusal_and_msg_reach_the_sender()
    {
        await using var stub = await ClassifierStub.StartAsync();
        await using var server = await ChatServer.StartAsync(Webhook(stub, "allow"));
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        var refused = await alice.SayAsync(sessionId, "buy my spam", requestId: "spam-1");
        Assert.Equal(1, refused.Code());
        Assert.Equal("The classifier says: no spam.", refused.String("msg"));
        var again = await alice.SayAsync(sessionId, "buy my spam", requestId: "spam-1"); // a retry: the same answer, not asked again
        Assert.Equal(1, again.Code());

        var fine = await alice.SayAsync(sessionId, "hello");
        Assert.Equal(0, fine.Code());
        Assert.Equal("hello", (await bob.ExpectAsync("PUSH_DIALOGUE_REQ")).String("content"));

        Assert.Equal(2, stub.Asked.Count);
        Assert.Equal(0, stub.BadSignatures);
        var question = stub.Asked.First();
        Assert.Equal("buy my spam", question.GetProperty("text").GetString());
        Assert.Equal(sessionId, question.GetProperty("sessionId").GetUInt64());
        Assert.Equal(alice.AccountId, question.GetProperty("senderId").GetUInt64());
        Assert.DoesNotContain(bob.Snapshot(), f => f.Cmd == "PUSH_DIALOGUE_REQ");
        Assert.Equal(1, Value(await ReadAsync(server.HttpUri), "chat_messages_filtered_total", "filter=\"webhook\""));
    }

    [Theory]
    [InlineData("allow", 0)]
    [InlineData("refuse", 1)]
    public async Task A_classifier_that_does_not_answer_in_time_lets_the_message_through_or_refuses_it_as_the_policy_says(string onFailure, int code)
    {
        await using var stub = await ClassifierStub.StartAsync();
        await using var server = await ChatServer.StartAsync([.. Webhook(stub, onFailure), "Chat:Filter:Webhook:Timeout=00:00:00.300"]);
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;

        var slow = await alice.SayAsync(sessionId, "a slow one");
        Assert.Equal(code, slow.Code());
        if (code == 1)
        {
            Assert.Contains("could not check", slow.String("msg"), StringComparison.Ordinal);
        }

        // Later messages keep their order behind it, and the partner gets exactly what was stored.
        var next = await alice.SayAsync(sessionId, "next");
        Assert.Equal(0, next.Code());
        var first = await bob.ExpectAsync("PUSH_DIALOGUE_REQ");
        Assert.Equal(code == 0 ? "a slow one" : "next", first.String("content"));
        var metrics = await ReadAsync(server.HttpUri);
        Assert.Equal(1, Value(metrics, "chat_filter_webhook_failures_total", "reason=\"timeout\""));
        Assert.Equal(code == 1 ? 1 : null, TryValue(metrics, "chat_messages_filtered_total", "filter=\"webhook\""));
    }

    [Fact]
    public async Task Start_refuses_a_word_list_that_does_not_compile_and_a_webhook_without_a_secret_naming_the_setting()
    {
        using var folder = TempFolder.Create("chat-words-");
        var words = folder.File("words.txt");
        await File.WriteAllLinesAsync(words, ["fine", "/(unclosed/"]);
        var bad = await Assert.ThrowsAnyAsync<Exception>(() => ChatServer.StartAsync($"Chat:Filter:Words:File={words}"));
        Assert.Contains("Chat:Filter:Words:File", bad.ToString(), StringComparison.Ordinal);
        Assert.Contains("line 2", bad.ToString(), StringComparison.Ordinal);

        var unsigned = await Assert.ThrowsAnyAsync<Exception>(() => ChatServer.StartAsync("Chat:Filter:Webhook:Url=http://127.0.0.1:9/classify"));
        Assert.Contains("Chat:Filter:Webhook:Secret", unsigned.ToString(), StringComparison.Ordinal);
    }

    private static string[] Webhook(ClassifierStub stub, string onFailure) =>
        [$"Chat:Filter:Webhook:Url={stub.Url}", $"Chat:Filter:Webhook:Secret={ClassifierStub.Secret}", $"Chat:Filter:Webhook:OnFailure={onFailure}"];
}
