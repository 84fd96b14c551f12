-- Moderation: visitors' reports with their evidence (the reported session's last messages, copied,
-- so the chat's own retention does not take them), operators' bans, and the audit log of every
-- operator action. Each is kept Chat:Moderation:Retention and then deleted. Addresses are salted
-- hashes unless the operator keeps them plain. Times are Unix milliseconds.
CREATE TABLE report (
    id                TEXT    NOT NULL PRIMARY KEY,
    session_id        INTEGER NOT NULL,
    reporter_id       INTEGER NOT NULL,
    reported_id       INTEGER NOT NULL,
    reporter_address  TEXT    NULL,
    reported_address  TEXT    NULL,
    reason            TEXT    NOT NULL,
    note              TEXT    NULL,
    evidence          TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    closed_at         INTEGER NULL,
    closed_by         TEXT    NULL
);

CREATE UNIQUE INDEX ux_report_session_reporter ON report (session_id, reporter_id);
CREATE INDEX ix_report_created ON report (created_at);

-- target: 0 an address (IPv4, or an IPv6 /64), 1 an account (value: its id).
CREATE TABLE ban (
    id          TEXT    NOT NULL PRIMARY KEY,
    target      INTEGER NOT NULL,
    value       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    until       INTEGER NOT NULL,
    lifted_at   INTEGER NULL,
    lifted_by   TEXT    NULL
);

CREATE INDEX ix_ban_until ON ban (until);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    reason  TEXT    NOT NULL
);

CREATE INDEX ix_audit_log_at ON audit_log (at);
