-- Accounts are temporary identities. Only a hash of the reconnect token is kept.
CREATE TABLE account (
    id          INTEGER PRIMARY KEY,
    nickname    TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- A session pairs two accounts; ended_at is NULL while it is active.
CREATE TABLE session (
    id          INTEGER PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER NULL
);

CREATE TABLE session_account (
    session_id  INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    PRIMARY KEY (session_id, account_id)
) WITHOUT ROWID;

CREATE INDEX ix_session_account_account ON session_account (account_id, session_id);

-- The seed's outbox; its inbox rows are replaced by one delivered-up-to mark per receiver
-- (a session has exactly one receiver per message).
CREATE TABLE message (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL,
    sender_id   INTEGER NOT NULL,
    request_id  TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX ix_message_session ON message (session_id, id);
CREATE UNIQUE INDEX ux_message_request ON message (sender_id, request_id);

CREATE TABLE view_ack (
    session_id  INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    msg_id      INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, account_id)
) WITHOUT ROWID;

CREATE TABLE delivery (
    session_id  INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    msg_id      INTEGER NOT NULL,
    PRIMARY KEY (session_id, account_id)
) WITHOUT ROWID;
