-- Schema 1: eval runs, their samples, and the model response cache.
-- Timestamps are RFC 3339 UTC text with a fixed width, so text order is time order.
-- JSON lives in TEXT columns: the same schema reads the same way in PostgreSQL.

CREATE TABLE runs (
    id         TEXT NOT NULL PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    model      TEXT NOT NULL,
    tasks      TEXT NOT NULL,
    config     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'complete', 'cancelled', 'failed')),
    summary    TEXT
) STRICT;

CREATE INDEX runs_by_created_at ON runs (created_at);

CREATE TABLE samples (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task       TEXT NOT NULL,
    sample     TEXT NOT NULL,
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    record     TEXT NOT NULL,
    score      REAL,
    error      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, task, sample, epoch)
) STRICT;

CREATE TABLE response_cache (
    key        TEXT NOT NULL PRIMARY KEY,
    model      TEXT NOT NULL,
    request    TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    hits       INTEGER NOT NULL DEFAULT 0
) STRICT;
