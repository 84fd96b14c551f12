-- The start of the broker an account's socket belongs to, in a column of its own: connection ids
-- are random now and no longer carry it in their high 32 bits, which is where the ids of earlier
-- versions had it (so those bindings keep theirs).
ALTER TABLE account ADD COLUMN broker_incarnation BIGINT NULL AFTER connection_id;
UPDATE account SET broker_incarnation = connection_id >> 32 WHERE connection_id IS NOT NULL;
