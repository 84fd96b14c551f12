-- Moderation (SQLite's V7): visitors' reports with their evidence (the reported session's last
-- messages, copied, so the chat's own retention does not take them), operators' bans, and the audit
-- log of every operator action. Each is kept Chat:Moderation:Retention and then deleted.
CREATE TABLE report (
    id                VARCHAR(64)     NOT NULL,
    session_id        BIGINT UNSIGNED NOT NULL,
    reporter_id       BIGINT UNSIGNED NOT NULL,
    reported_id       BIGINT UNSIGNED NOT NULL,
    reporter_address  VARCHAR(255)    NULL,
    reported_address  VARCHAR(255)    NULL,
    reason            VARCHAR(32)     NOT NULL,
    note              TEXT            NULL,
    evidence          MEDIUMTEXT      NOT NULL,
    created_at        BIGINT          NOT NULL,
    closed_at         BIGINT          NULL,
    closed_by         VARCHAR(255)    NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_report_session_reporter (session_id, reporter_id),
    KEY ix_report_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- target: 0 an address (IPv4, or an IPv6 /64), 1 an account (value: its id).
CREATE TABLE ban (
    id          VARCHAR(64)   NOT NULL,
    target      TINYINT       NOT NULL,
    value       VARCHAR(255)  NOT NULL,
    reason      TEXT          NOT NULL,
    created_at  BIGINT        NOT NULL,
    created_by  VARCHAR(255)  NOT NULL,
    until       BIGINT        NOT NULL,
    lifted_at   BIGINT        NULL,
    lifted_by   VARCHAR(255)  NULL,
    PRIMARY KEY (id),
    KEY ix_ban_until (until)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE audit_log (
    id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at      BIGINT          NOT NULL,
    actor   VARCHAR(255)    NOT NULL,
    action  VARCHAR(32)     NOT NULL,
    target  VARCHAR(255)    NOT NULL,
    reason  TEXT            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_audit_log_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
