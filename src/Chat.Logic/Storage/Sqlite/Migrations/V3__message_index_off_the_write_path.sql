-- Each message used to update the unique index on (session, sender, request_id) in its own commit,
-- and the messages of one commit come from as many sessions: one scattered 4 KiB page written per
-- message, most of the store's cost under load. Now `message` has no secondary index. The index a
-- replay needs, by session then id, lives in its own table, written in bulk about once a second by
-- the writer (a session's new ids share that session's last page), and reads add the few messages
-- above it by scanning `message` by id. Retries are recognised by logic (the sender's last 128
-- requestIds, reloaded from here at start), not by a unique constraint.
DROP INDEX ux_message_session_request;

CREATE TABLE message_index (
    session_id  INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    PRIMARY KEY (session_id, id)
) WITHOUT ROWID;

INSERT INTO message_index (session_id, id) SELECT session_id, id FROM message;

-- The smallest message id committed but not yet in message_index (the largest integer when none):
-- reads scan `message` from here for what the index does not have yet.
CREATE TABLE message_index_state (
    from_id     INTEGER NOT NULL
);

INSERT INTO message_index_state (from_id) VALUES (9223372036854775807);
