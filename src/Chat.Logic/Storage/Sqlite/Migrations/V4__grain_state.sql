-- Logic runs on grains that rebuild themselves from the store, on whichever node activates them,
-- so what was process memory is recorded here: where an account's socket is and since when it is
-- away (its grace period survives a crash), and who waits for a partner.
ALTER TABLE account ADD COLUMN broker TEXT NULL;
ALTER TABLE account ADD COLUMN connection_id INTEGER NULL;
ALTER TABLE account ADD COLUMN away_since INTEGER NULL;

CREATE INDEX ix_account_broker ON account (broker) WHERE broker IS NOT NULL;
CREATE INDEX ix_account_away ON account (away_since) WHERE away_since IS NOT NULL;
CREATE INDEX ix_session_active ON session (id) WHERE ended_at IS NULL;

CREATE TABLE waiting (
    account_id  INTEGER PRIMARY KEY,
    since       INTEGER NOT NULL
);

-- Ids are handed out in blocks: next_id is the first id no node has been given yet. Ids of
-- earlier runs came from MAX(id) + 1, so the counters start above them.
CREATE TABLE id_block (
    kind        TEXT    PRIMARY KEY,
    next_id     INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO id_block (kind, next_id) VALUES
    ('account', (SELECT IFNULL(MAX(id), 0) + 1 FROM account)),
    ('session', (SELECT IFNULL(MAX(id), 0) + 1 FROM session)),
    ('message', (SELECT IFNULL(MAX(id), 0) + 1 FROM message));
