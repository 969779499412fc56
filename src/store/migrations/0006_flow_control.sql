-- Version 6: flow-control keys (§4.11, §9.5). One row per key ever used:
-- the limits the latest message under it brought, the operator's pins over
-- them, and whether it is paused. The live counters are the engine's; the
-- waitlist is the key's pending messages, so it needs no table.
-- Frozen: change the schema with a new file.
CREATE TABLE flow_control (
    key                   TEXT PRIMARY KEY,
    parallelism           INTEGER,             -- NULL: unlimited
    rate                  INTEGER,             -- NULL: unlimited
    period                INTEGER NOT NULL,    -- seconds
    paused                INTEGER NOT NULL DEFAULT 0,
    pinned_parallelism    INTEGER NOT NULL DEFAULT 0,
    pin_parallelism       INTEGER,
    pinned_rate           INTEGER NOT NULL DEFAULT 0,
    pin_rate              INTEGER,
    pin_period            INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
