-- Schema 2: the guard's tamper-evident audit chain and its human-review queue.
-- See crates/store/src/audit.rs for how `hash` is computed and checked.

-- One row per guard decision, appended in `seq` order and never updated. `seq` counts 1, 2, 3 …
-- with no gaps; `prev_hash` is the `hash` of the row before (64 zeros for seq 1), so a row that
-- is edited, deleted or moved breaks the chain where it stood.
CREATE TABLE audit_log (
    seq        INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
    ts         TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id     TEXT,
    kind       TEXT NOT NULL,
    layer      TEXT,
    verdict    TEXT NOT NULL,
    -- Canonical JSON (RFC 8785) of the event's detail, exactly the text the hash covers.
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;

-- `review show` and the proxy look up the trail of one request.
CREATE INDEX audit_log_by_request ON audit_log (request_id);

-- Exchanges escalated to a human. Unlike the audit chain this table holds the exchange itself
-- (a reviewer has to read it), and rows change as they are decided; every change is also
-- appended to audit_log in the same transaction.
CREATE TABLE review_queue (
    id         TEXT NOT NULL PRIMARY KEY,
    created_at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id     TEXT,
    layer      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    exchange   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    decided_at TEXT,
    decided_by TEXT,
    note       TEXT
) STRICT;

CREATE INDEX review_queue_by_status ON review_queue (status, created_at);
