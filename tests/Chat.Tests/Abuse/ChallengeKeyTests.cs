using Chat.Logic.Abuse;
using Chat.Logic.Storage;
using Chat.Testing.Files;
using Microsoft.Extensions.Options;

namespace Chat.Tests.Abuse;

/// <summary>
/// The challenge key kept in the data folder when none is configured: starts that make it at the same
/// moment (silos of one test cluster share a folder) all get the same, complete key, never an empty one.
/// </summary>
public sealed class ChallengeKeyTests
{
    [Fact]
    public async Task Starts_that_make_the_key_at_the_same_moment_all_read_the_same_complete_key()
    {
        for (var round = 0; round < 20; round++)
        {
            using var folder = TempFolder.Create("chat-key-");
            var store = Options.Create(new StoreOptions { Path = folder.File("chat.db") });
            var limits = Options.Create(new LimitOptions());
            using var start = new Barrier(8);
            var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                return Convert.ToHexString(new AltchaKey(limits, store).Bytes);
            })));

            Assert.Single(keys.Distinct());
            Assert.Equal(64 * 2, keys[0].Length); // 64 hex digits, as UTF-8 bytes
            Assert.Equal([Path.Combine(folder.Path, AltchaKey.FileName)], Directory.GetFiles(folder.Path));
        }
    }
}
