using Chat.Testing.Files;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Filtering;

/// <summary>
/// A spammer's ways around the message filter over a real socket: invisible characters inside a
/// link, a handle or a listed word (a browser shows none of them, so the partner reads the plain
/// text), and look-alike full-width letters.
/// </summary>
public sealed class MessageFilterAttackTests
{
    [Theory]
    [InlineData("add me: snap\u200B: hotgirl99")] // zero-width space
    [InlineData("https\u200C://spam.example/x")] // zero-width non-joiner
    [InlineData("visit spam\u00AD.com")] // soft hyphen
    [InlineData("mail me at me@exa\u2060mple.org")] // word joiner
    [InlineData("\uFEFF@hot\u200Dgirl99 on in\u200Dsta")] // byte-order mark, zero-width joiner
    [InlineData("ｓｎａｐ： hotgirl99")] // full-width letters
    [InlineData("add me 𝐬𝐧𝐚𝐩: hotgirl99")] // mathematical bold letters
    [InlineData("ⓢⓝⓐⓟ: hotgirl99")] // circled letters
    [InlineData("s\u0336n\u0336a\u0336p\u0336: hotgirl99")] // combining strike-through
    public async Task Invisible_or_look_alike_characters_do_not_carry_a_link_past_the_first_messages_rule(string spam)
    {
        await using var server = await ChatServer.StartAsync();
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        var refused = await bob.SayAsync(sessionId, spam);
        Assert.Equal(1, refused.Code());
        Assert.False(refused.Has("msgId"));
    }

    [Fact]
    public async Task Invisible_characters_inside_a_listed_word_do_not_carry_it_past_the_word_list()
    {
        using var folder = TempFolder.Create("chat-words-");
        var words = folder.File("words.txt");
        await File.WriteAllLinesAsync(words, ["badword", "buy followers"]);
        await using var server = await ChatServer.StartAsync($"Chat:Filter:Words:File={words}");
        var (alice, bob, sessionId) = await server.NewPairAsync();
        await using var a = alice;
        await using var b = bob;
        foreach (var text in new[] { "a bad\u200Bword", "a b\u00ADadword", "buy\u200B followers", "buy \u2060followers" })
        {
            Assert.Equal(1, (await alice.SayAsync(sessionId, text)).Code());
        }

        Assert.Equal(0, (await alice.SayAsync(sessionId, "a good word \u200B")).Code());
    }
}
