// Two cores: the browser tests run one at a time (Chromium, the server and the pages share them).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
