-- Version 8: a schedule's bounds (Cronhook-Start-At, Cronhook-End-At), Unix
-- ms, NULL when unbounded. No slot fires before start_at or after end_at;
-- a schedule past its end keeps its row with next_fire_at NULL (ended).
-- Frozen: change the schema with a new file.
ALTER TABLE schedules ADD COLUMN start_at INTEGER;
ALTER TABLE schedules ADD COLUMN end_at INTEGER;
