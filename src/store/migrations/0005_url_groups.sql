-- Version 5: URL groups (QStash topics, §4.7). A group exists while it has
-- an endpoint; an endpoint is known by its name if it has one, else by its
-- URL (`key`), and keeps the place it was first added at (rowid). A
-- schedule keeps why its last firing created nothing (its group was gone).
-- Frozen: change the schema with a new file.
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
ALTER TABLE schedules ADD COLUMN last_error TEXT;
