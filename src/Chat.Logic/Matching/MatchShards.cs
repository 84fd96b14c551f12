namespace Chat.Logic.Matching;

/// <summary>Which matchmaker shard an account waits in: fixed by its id, so a repeated MATCH_REQ lands where it waits.</summary>
internal static class MatchShards
{
    public static int Of(ulong accountId, int shards) => (int)(accountId % (ulong)shards);
}
