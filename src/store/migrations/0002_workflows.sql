-- Version 2: Upstash Workflow runs, their logs, waiters and lookback notices.
-- Only adds tables and indexes; version 1's tables keep their meaning.
-- Frozen: change the schema with a new file.
CREATE TABLE workflow_runs (
    run_id           TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    config           TEXT NOT NULL,
    init_message_id  TEXT NOT NULL,
    initial_body     BLOB NOT NULL,
    response         BLOB,
    caller_ip        TEXT,
    failure_message_id TEXT
) STRICT;
CREATE INDEX workflow_runs_created ON workflow_runs (created_at);
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
CREATE TABLE workflow_waiters (
    timeout_message_id  TEXT PRIMARY KEY,
    event_id            TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    url                 TEXT NOT NULL,
    delivery            TEXT NOT NULL,
    step                TEXT NOT NULL,
    timeout             TEXT NOT NULL,
    timeout_url         TEXT NOT NULL,
    timeout_headers     TEXT NOT NULL,
    deadline            INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX workflow_waiters_event ON workflow_waiters (event_id);
CREATE INDEX workflow_waiters_run ON workflow_waiters (run_id);
CREATE TABLE workflow_notices (
    run_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX messages_workflow_run ON messages (json_extract(delivery, '$.workflow.runId'))
    WHERE json_extract(delivery, '$.workflow.runId') IS NOT NULL;
