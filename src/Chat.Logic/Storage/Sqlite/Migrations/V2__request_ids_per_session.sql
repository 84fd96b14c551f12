-- A retry is the same DIALOGUE_REQ again, so it names the same session: requestIds need only be
-- unique per (session, sender). One index ordered by session then serves both the uniqueness
-- check and the replay reads, and a commit touches one index page per session instead of one
-- per session plus one per sender (the index by sender alone scattered every batch across the file).
DROP INDEX ux_message_request;
DROP INDEX ix_message_session;
CREATE UNIQUE INDEX ux_message_session_request ON message (session_id, sender_id, request_id);
