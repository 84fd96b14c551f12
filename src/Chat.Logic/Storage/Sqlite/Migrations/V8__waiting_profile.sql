-- Issue 22 (matching by interests and language): who a waiting visitor would like to meet (its
-- folded interests, language and fallback choice; NULL: anyone), so a matchmaker shard rebuilt on
-- another node pairs it as it asked.
ALTER TABLE waiting ADD COLUMN profile TEXT NULL;
