-- Version 4: a schedule's fire history, for the console: every slot fired,
-- every run started by hand, and every slot missed with the reason, written
-- in the transaction that fired (or skipped) it. Bounded like the log.
-- Frozen: change the schema with a new file.
CREATE TABLE schedule_firings (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id  TEXT NOT NULL,
    slot_at      INTEGER,            -- NULL for a run started by hand
    kind         TEXT NOT NULL,      -- 'slot' | 'manual' | 'missed'
    message_id   TEXT,               -- the message it created (NULL when missed)
    reason       TEXT,               -- why a slot was missed
    fired_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX schedule_firings_schedule ON schedule_firings (schedule_id, seq);
CREATE INDEX schedule_firings_time ON schedule_firings (fired_at);

-- The next firings across all schedules, in order, without a scan.
CREATE INDEX schedules_next ON schedules (next_fire_at) WHERE paused = 0;
-- The console lists schedules by state, oldest first, a page at a time.
CREATE INDEX schedules_listed ON schedules (paused, created_at, id);
