-- Version 3: the timer holds only the messages due within its window; the
-- rest are read by due time when the window reaches them. Queued messages
-- are always tracked (their order matters), so they are found by their
-- queue without reading the delivery JSON. Frozen: change the schema with a
-- new file.
ALTER TABLE messages ADD COLUMN queue_name TEXT;
UPDATE messages SET queue_name = json_extract(delivery, '$.queueName');
CREATE INDEX messages_due ON messages (due_at) WHERE queue_name IS NULL;
CREATE INDEX messages_queued ON messages (queue_name) WHERE queue_name IS NOT NULL;

-- The earliest version 1 databases indexed the log by time alone.
DROP INDEX IF EXISTS events_time;
CREATE INDEX events_time ON events (time, seq);
