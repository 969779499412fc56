-- cronhook's whole schema, version 10. A new database gets this file as is; an
-- older one is brought here by the frozen, numbered steps in
-- src/store/migrations/ (a test checks that both end in the same shape).
-- PRAGMA user_version holds the schema version (see LATEST_VERSION in
-- src/store/migrations.rs).

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
    caller_ip     TEXT,
    last_error    TEXT,               -- why the last firing created nothing (version 5)
    start_at      INTEGER,            -- Cronhook-Start-At, ms: no slot before it (version 8)
    end_at        INTEGER             -- Cronhook-End-At, ms: no slot after it (version 8)
) STRICT;

-- The next firings across all schedules, in order, without a scan.
CREATE INDEX schedules_next ON schedules (next_fire_at) WHERE paused = 0;
-- The console lists schedules by state, oldest first, a page at a time.
CREATE INDEX schedules_listed ON schedules (paused, created_at, id);

-- A schedule's fire history (version 4), for the console: every slot fired,
-- every run started by hand, every slot missed with the reason, written in
-- the transaction that fired (or skipped) it. Purged with the log.
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
    caller_ip     TEXT,
    queue_name    TEXT                -- the queue's name for enqueued messages (version 3)
) STRICT;
-- The timer holds only messages due within its window and reads the rest by
-- due time; queued messages are always tracked, found by their queue.
CREATE INDEX messages_due ON messages (due_at) WHERE queue_name IS NULL;
CREATE INDEX messages_queued ON messages (queue_name) WHERE queue_name IS NOT NULL;

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
-- Version 9: a failed workflow run's step, for `client.logs`.
CREATE INDEX dlq_workflow_run ON dlq (json_extract(delivery, '$.workflow.runId'))
    WHERE json_extract(delivery, '$.workflow.runId') IS NOT NULL;

-- Logs (§6.6), version 10: a message's settings once, in `log_messages`
-- (written with its CREATED entry), and its log in `log`: one row per
-- attempt, one per other state change, written in the transaction of the
-- change. Bounded by count and age (purged in the background, the settings
-- with a message's last row).
CREATE TABLE log_messages (
    id                TEXT PRIMARY KEY,   -- the message id
    url               TEXT NOT NULL,
    schedule_id       TEXT,
    caller_ip         TEXT,
    delivery          TEXT NOT NULL,      -- model::Delivery as stored with the message
    attempt_delivery  TEXT,               -- as its attempts ran, when that differs (a workflow run's config)
    body              BLOB                -- shown on the CREATED entry
) STRICT, WITHOUT ROWID;                  -- keyed by id alone: no second B-tree

-- An attempt row (`started_at` set) stands for ACTIVE at `started_at` and
-- DELIVERED, or ERROR and RETRY / FAILED, at `time` (its end); `state` is
-- its last. Any other row is the one state it names. `delivery` is set only
-- on rows converted from version 9 whose settings differ from their
-- message's. `total` counts the entries logged up to and including this
-- row, so the purge finds where the newest N entries begin without a scan.
CREATE TABLE log (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id          TEXT NOT NULL,
    state               TEXT NOT NULL,
    time                INTEGER NOT NULL,
    started_at          INTEGER,
    error               TEXT,
    next_delivery_time  INTEGER,
    response_status     INTEGER,
    response_headers    TEXT,
    response_body       BLOB,
    delivery            TEXT,
    total               INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX log_message ON log (message_id);
-- The log is listed newest first by time: the rows by `time`, the ACTIVE
-- entries of attempts by `started_at`, merged.
CREATE INDEX log_time ON log (time, seq);
CREATE INDEX log_started ON log (started_at, seq) WHERE started_at IS NOT NULL;

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

-- Upstash Workflow runs (version 2; workflow-wire.md). A run is keyed by the
-- SDK's Upstash-Workflow-RunId. `config` is the JSON of workflow::RunConfig,
-- the trigger settings replayed on every delivery of the run (§3.2).
CREATE TABLE workflow_runs (
    run_id           TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    state            TEXT NOT NULL,       -- RUN_STARTED | RUN_SUCCESS | RUN_FAILED | RUN_CANCELED
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    config           TEXT NOT NULL,
    init_message_id  TEXT NOT NULL,
    initial_body     BLOB NOT NULL,
    response         BLOB,                -- the body of DELETE ?cancel=false
    caller_ip        TEXT,
    failure_message_id TEXT,              -- the latest failure-function call
    parent           TEXT                 -- the invoking run, JSON (version 7)
) STRICT;
CREATE INDEX workflow_runs_created ON workflow_runs (created_at);

-- The run log (§3.1): one entry per message, in append order. Entry 0 is
-- the Init message; a delivery carries the entries up to its own.
CREATE TABLE workflow_steps (
    run_id       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    call_type    TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX workflow_steps_message ON workflow_steps (message_id);

-- waitForEvent waiters (§3.7). Each has a pending timeout message (due at
-- the deadline) in `messages`, which is how the deadline survives restarts.
CREATE TABLE workflow_waiters (
    timeout_message_id  TEXT PRIMARY KEY,
    event_id            TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    url                 TEXT NOT NULL,
    delivery            TEXT NOT NULL,    -- settings of the notify delivery (the wait's headers)
    step                TEXT NOT NULL,    -- the wait request's step JSON
    timeout             TEXT NOT NULL,
    timeout_url         TEXT NOT NULL,
    timeout_headers     TEXT NOT NULL,    -- JSON {name: [values]}
    deadline            INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX workflow_waiters_event ON workflow_waiters (event_id);
CREATE INDEX workflow_waiters_run ON workflow_waiters (run_id);

-- Lookback notifications (§1 row 8): an event sent to a run before it waits.
CREATE TABLE workflow_notices (
    run_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, event_id)
) STRICT, WITHOUT ROWID;

-- A run's pending messages, found when it ends (cancel drops them).
CREATE INDEX messages_workflow_run ON messages (json_extract(delivery, '$.workflow.runId'))
    WHERE json_extract(delivery, '$.workflow.runId') IS NOT NULL;

-- URL groups (version 5, §4.7): a group exists while it has an endpoint. An
-- endpoint is known by its name if it has one, else by its URL (`key`), and
-- keeps the place it was first added at (rowid).
CREATE TABLE url_groups (
    name         TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE TABLE url_group_endpoints (
    group_name   TEXT NOT NULL,
    key          TEXT NOT NULL,      -- 'name:<name>' or 'url:<url>'
    name         TEXT,
    url          TEXT NOT NULL,
    UNIQUE (group_name, key)
) STRICT;
-- Flow-control keys (§4.11, §9.5, version 6): the limits the latest message
-- under a key brought, the operator's pins, and whether it is paused. The
-- live counters are the engine's; the waitlist is the key's pending messages.
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
