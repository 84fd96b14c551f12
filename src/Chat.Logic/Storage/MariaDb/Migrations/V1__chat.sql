-- The chat's tables on MariaDB (10.11): the same data as SQLite's V1-V5, shaped for InnoDB and
-- shared by every node of a cluster. Text is utf8mb4 with the binary NO PAD collation, whatever
-- the server's defaults: MariaDB's default collations ignore case and trailing spaces, so
-- requestIds "aB", "ab" and "ab " would collide, and even utf8mb4_bin pads with spaces.
-- Times are Unix milliseconds, as everywhere in the store.

-- token_hash is the SHA-256 of the reconnect token; broker + connection_id is the account's socket
-- (NULL while it has none); away_since is set while its grace period runs; left_at is when it last
-- lost its socket (retention deletes accounts gone long enough).
CREATE TABLE account (
    id              BIGINT UNSIGNED NOT NULL,
    nickname        VARCHAR(1000)   NOT NULL,
    token_hash      VARBINARY(64)   NOT NULL,
    created_at      BIGINT          NOT NULL,
    broker          VARCHAR(255)    NULL,
    connection_id   BIGINT UNSIGNED NULL,
    away_since      BIGINT          NULL,
    left_at         BIGINT          NULL,
    PRIMARY KEY (id),
    KEY ix_account_broker (broker),
    KEY ix_account_away (away_since),
    KEY ix_account_left (left_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- ended_at NULL = active.
CREATE TABLE session (
    id              BIGINT UNSIGNED NOT NULL,
    created_at      BIGINT          NOT NULL,
    ended_at        BIGINT          NULL,
    PRIMARY KEY (id),
    KEY ix_session_ended (ended_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE session_account (
    session_id      BIGINT UNSIGNED NOT NULL,
    account_id      BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (session_id, account_id),
    KEY ix_session_account_account (account_id, session_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- Clustered by (session, id): a replay reads one session's messages in msgId order from one range,
-- and a commit appends at the end of each session's range. The id alone is unique across sessions,
-- and a sender's requestId is unique in its session: a retry after a COMMIT whose outcome was
-- unknown finds the first attempt here instead of storing the message twice.
CREATE TABLE message (
    session_id      BIGINT UNSIGNED NOT NULL,
    id              BIGINT UNSIGNED NOT NULL,
    sender_id       BIGINT UNSIGNED NOT NULL,
    request_id      VARCHAR(64)     NOT NULL,
    content         TEXT            NOT NULL,
    created_at      BIGINT          NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE KEY ux_message_id (id),
    UNIQUE KEY ux_message_request (session_id, sender_id, request_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- One delivered-up-to mark per receiver and session; one read-up-to mark per reader and session.
CREATE TABLE delivery (
    session_id      BIGINT UNSIGNED NOT NULL,
    account_id      BIGINT UNSIGNED NOT NULL,
    msg_id          BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (session_id, account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE view_ack (
    session_id      BIGINT UNSIGNED NOT NULL,
    account_id      BIGINT UNSIGNED NOT NULL,
    msg_id          BIGINT UNSIGNED NOT NULL,
    modified_at     BIGINT          NOT NULL,
    PRIMARY KEY (session_id, account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- The matchmaker's pool, longest waiting first.
CREATE TABLE waiting (
    account_id      BIGINT UNSIGNED NOT NULL,
    since           BIGINT          NOT NULL,
    PRIMARY KEY (account_id),
    KEY ix_waiting_since (since, account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- The first account, session or message id no node has been given yet; nodes reserve blocks.
CREATE TABLE id_block (
    kind            VARCHAR(16)     NOT NULL,
    next_id         BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

INSERT INTO id_block (kind, next_id) VALUES ('account', 1), ('session', 1), ('message', 1);
