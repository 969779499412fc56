-- Version 1: cronhook's first schema (schedules, messages, the log, the DLQ,
-- deduplication keys, settings, queues). Frozen: a database of this version
-- exists in the field exactly like this; change the schema with a new file.


-- Cron schedules. `delivery` is the JSON of model::Delivery, the template of
-- every message a schedule fires.
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,
    destination   TEXT NOT NULL,
    cron          TEXT NOT NULL,
    cron_seconds  INTEGER NOT NULL DEFAULT 0,
    delivery      TEXT NOT NULL,
    body          BLOB NOT NULL,
    misfire       TEXT NOT NULL DEFAULT 'once',
    paused        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    next_fire_at  INTEGER,            -- NULL while paused or when no slot is left
    last_fire_at  INTEGER,
    last_states   TEXT NOT NULL DEFAULT '{}',
    caller_ip     TEXT
) STRICT;

-- The slots a schedule has fired. The primary key is what makes a slot fire
-- at most once, also across crashes; rows older than a schedule's last firing
-- are pruned because next_fire_at only moves forward.
CREATE TABLE fired_slots (
    schedule_id   TEXT NOT NULL,
    slot_at       INTEGER NOT NULL,
    message_id    TEXT NOT NULL,
    PRIMARY KEY (schedule_id, slot_at)
) STRICT, WITHOUT ROWID;

-- Messages that still have an attempt to make. Delivered and dead-lettered
-- messages leave this table, so it only ever holds pending work.
CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    schedule_id   TEXT,
    slot_at       INTEGER,            -- the schedule slot this message fires
    delivery      TEXT NOT NULL,
    body          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    not_before    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    retried       INTEGER NOT NULL DEFAULT 0,
    caller_ip     TEXT
) STRICT;

-- Messages that ran out of attempts, with the last response.
CREATE TABLE dlq (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    dlq_id            TEXT NOT NULL UNIQUE,
    message_id        TEXT NOT NULL,
    url               TEXT NOT NULL,
    schedule_id       TEXT,
    delivery          TEXT NOT NULL,
    body              BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    not_before        INTEGER NOT NULL,
    retried           INTEGER NOT NULL,
    caller_ip         TEXT,
    failed_at         INTEGER NOT NULL,
    response_status   INTEGER,
    response_headers  TEXT NOT NULL DEFAULT '{}',
    response_body     BLOB NOT NULL,
    error             TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX dlq_failed_at ON dlq (failed_at);

-- Logs (§6.6): one row per state change of a message, written in the same
-- transaction as the change. `delivery` is the message's settings (as in
-- messages); `body` is kept on the CREATED row only. Bounded by count and age
-- (purged in the background).
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    time                INTEGER NOT NULL,
    message_id          TEXT NOT NULL,
    state               TEXT NOT NULL,
    url                 TEXT NOT NULL,
    schedule_id         TEXT,
    caller_ip           TEXT,
    delivery            TEXT NOT NULL,
    body                BLOB,
    error               TEXT,
    next_delivery_time  INTEGER,
    response_status     INTEGER,
    response_headers    TEXT,
    response_body       BLOB
) STRICT;
CREATE INDEX events_message ON events (message_id);
-- The log is listed newest first by time (an ACTIVE row is written with its
-- attempt's outcome but stamped with the attempt's start), then by seq.
CREATE INDEX events_time ON events (time, seq);

-- Deduplication keys (§9.7): `id:<Upstash-Deduplication-Id>` or
-- `content:<sha256>`, each pointing at the message it first created.
CREATE TABLE dedup (
    key         TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX dedup_expires ON dedup (expires_at);

-- Small settings that must survive restarts (rotated signing keys).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Queues (§4.6): created on first enqueue with parallelism 1.
CREATE TABLE queues (
    name         TEXT PRIMARY KEY,
    parallelism  INTEGER NOT NULL DEFAULT 1,
    paused       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
