-- Version 10: the log stores a message's settings once (`log_messages`) and
-- an attempt as one row (`log`), instead of a row per state change each
-- copying the settings (`events`).
--
-- The old rows are converted so that the API lists exactly what it listed
-- before: an attempt's rows (ACTIVE, then DELIVERED, or ERROR and RETRY /
-- FAILED, written by one transaction with consecutive seqs and the same
-- settings) become one attempt row keeping the ACTIVE row's seq; every
-- other row stays one row with its own seq. A row whose settings differ
-- from the ones the new reader gives it keeps its own (`log.delivery`).
-- Frozen: change the schema with a new file.

CREATE TABLE log_messages (
    id                TEXT PRIMARY KEY,
    url               TEXT NOT NULL,
    schedule_id       TEXT,
    caller_ip         TEXT,
    delivery          TEXT NOT NULL,
    attempt_delivery  TEXT,
    body              BLOB
) STRICT, WITHOUT ROWID;

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

-- Settings: from each message's first row; the attempts' settings from its
-- first attempt row when they differ; the body from its CREATED row.
INSERT INTO log_messages (id, url, schedule_id, caller_ip, delivery, attempt_delivery, body)
SELECT e.message_id, e.url, e.schedule_id, e.caller_ip, e.delivery,
       (SELECT nullif(a.delivery, e.delivery) FROM events a
         WHERE a.message_id = e.message_id
           AND a.state IN ('ACTIVE', 'ERROR', 'RETRY', 'DELIVERED', 'FAILED')
         ORDER BY a.seq LIMIT 1),
       (SELECT c.body FROM events c
         WHERE c.message_id = e.message_id AND c.state = 'CREATED'
         ORDER BY c.seq LIMIT 1)
FROM events e
JOIN (SELECT message_id, min(seq) AS first FROM events GROUP BY message_id) f
  ON e.seq = f.first;

-- A pending message whose rows were all purged still needs its settings
-- for the rows its attempts will write.
INSERT OR IGNORE INTO log_messages (id, url, schedule_id, caller_ip, delivery)
SELECT id, url, schedule_id, caller_ip, delivery FROM messages;

-- Delivered attempts: ACTIVE at seq s, DELIVERED at s + 1.
CREATE TEMP TABLE attempt_pairs AS
SELECT a.seq AS active, d.seq AS last
FROM events a JOIN events d ON d.seq = a.seq + 1
WHERE a.state = 'ACTIVE' AND d.state = 'DELIVERED'
  AND d.message_id = a.message_id AND d.delivery IS a.delivery
  AND a.error IS NULL AND a.next_delivery_time IS NULL AND a.response_headers IS NULL
  AND d.next_delivery_time IS NULL AND d.error IS NULL;

-- Failed attempts: ACTIVE at s, ERROR at s + 1, RETRY or FAILED at s + 2,
-- at the ERROR's time.
CREATE TEMP TABLE attempt_triples AS
SELECT a.seq AS active, r.seq AS error, f.seq AS last
FROM events a
JOIN events r ON r.seq = a.seq + 1
JOIN events f ON f.seq = a.seq + 2
WHERE a.state = 'ACTIVE' AND r.state = 'ERROR' AND f.state IN ('RETRY', 'FAILED')
  AND r.message_id = a.message_id AND f.message_id = a.message_id
  AND r.delivery IS a.delivery AND f.delivery IS a.delivery
  AND f.time = r.time
  AND a.error IS NULL AND a.next_delivery_time IS NULL AND a.response_headers IS NULL
  AND r.next_delivery_time IS NULL AND r.response_headers IS NOT NULL
  AND f.response_headers IS NULL
  AND ((f.state = 'RETRY' AND f.error IS NULL AND f.next_delivery_time IS NOT NULL)
       OR (f.state = 'FAILED' AND f.error IS r.error AND f.next_delivery_time IS NULL));

INSERT INTO log (seq, message_id, state, time, started_at, response_status, response_headers,
                 response_body, delivery)
SELECT a.seq, a.message_id, 'DELIVERED', d.time, a.time, d.response_status, d.response_headers,
       d.response_body, a.delivery
FROM attempt_pairs p JOIN events a ON a.seq = p.active JOIN events d ON d.seq = p.last;

INSERT INTO log (seq, message_id, state, time, started_at, error, next_delivery_time,
                 response_status, response_headers, response_body, delivery)
SELECT a.seq, a.message_id, f.state, r.time, a.time, r.error, f.next_delivery_time,
       r.response_status, r.response_headers, r.response_body, a.delivery
FROM attempt_triples t
JOIN events a ON a.seq = t.active
JOIN events r ON r.seq = t.error
JOIN events f ON f.seq = t.last;

-- Every other row as it was.
INSERT INTO log (seq, message_id, state, time, error, next_delivery_time, response_status,
                 response_headers, response_body, delivery)
SELECT seq, message_id, state, time, error, next_delivery_time, response_status,
       response_headers, response_body, delivery
FROM events
WHERE seq NOT IN (SELECT active FROM attempt_pairs UNION ALL SELECT last FROM attempt_pairs
                  UNION ALL SELECT active FROM attempt_triples
                  UNION ALL SELECT error FROM attempt_triples
                  UNION ALL SELECT last FROM attempt_triples);

-- A row keeps its own settings only where they differ from the ones the
-- reader gives it (an attempt's states read the attempts' settings).
UPDATE log SET delivery = NULL
WHERE delivery IS (
    SELECT CASE WHEN log.state IN ('ACTIVE', 'ERROR', 'RETRY', 'DELIVERED', 'FAILED')
                THEN coalesce(m.attempt_delivery, m.delivery) ELSE m.delivery END
    FROM log_messages m WHERE m.id = log.message_id);

-- The running count of entries, in seq order.
UPDATE log SET total = w.total
FROM (SELECT seq, sum(CASE WHEN started_at IS NULL THEN 1 WHEN state = 'DELIVERED' THEN 2 ELSE 3 END)
             OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS total FROM log) AS w
WHERE w.seq = log.seq;

DROP TABLE attempt_pairs;
DROP TABLE attempt_triples;
DROP TABLE events;

CREATE INDEX log_message ON log (message_id);
CREATE INDEX log_time ON log (time, seq);
CREATE INDEX log_started ON log (started_at, seq) WHERE started_at IS NOT NULL;
