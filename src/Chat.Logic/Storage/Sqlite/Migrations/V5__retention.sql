-- Retention deletes the history of ended sessions and the accounts that are gone. An account's
-- left_at is when it last lost its socket (NULL while it has one); accounts without a socket from
-- before this version are counted as gone from now on, so none expires at the upgrade itself.
ALTER TABLE account ADD COLUMN left_at INTEGER NULL;
UPDATE account SET left_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 WHERE broker IS NULL;

CREATE INDEX ix_account_left ON account (left_at) WHERE left_at IS NOT NULL;
CREATE INDEX ix_session_ended ON session (ended_at) WHERE ended_at IS NOT NULL;
