//! Query text. Written in the SQL that SQLite and PostgreSQL share (`$n` placeholders,
//! `ON CONFLICT … DO UPDATE`, `RETURNING`, `substr`), so a PostgreSQL backend can reuse it as is.

pub(crate) const INSERT_RUN: &str = "INSERT INTO runs \
     (id, created_at, updated_at, model, tasks, config, status, summary) \
     VALUES ($1, $2, $2, $3, $4, $5, $6, NULL) \
     ON CONFLICT (id) DO NOTHING";

pub(crate) const SET_RUN_STATUS: &str =
    "UPDATE runs SET status = $1, summary = $2, updated_at = $3 WHERE id = $4";

pub(crate) const SELECT_RUN: &str = "SELECT id, created_at, updated_at, model, tasks, config, \
     status, summary FROM runs WHERE id = $1";

/// Ids starting with `$1`. `substr` rather than `LIKE`: `LIKE` is case-insensitive in SQLite and
/// treats `%` and `_` in the prefix as wildcards. At most `$2` rows, so a short prefix over a big
/// store stays cheap; sorted so the candidates an error lists are stable.
pub(crate) const SELECT_RUNS_BY_PREFIX: &str = "SELECT id, created_at, updated_at, model, tasks, \
     config, status, summary FROM runs WHERE substr(id, 1, length($1)) = $1 ORDER BY id LIMIT $2";

/// Newest first; `id` breaks ties so the order is total.
pub(crate) const LIST_RUNS: &str = "SELECT id, created_at, updated_at, model, tasks, config, \
     status, summary FROM runs ORDER BY created_at DESC, id DESC LIMIT $1";

pub(crate) const UPSERT_SAMPLE: &str = "INSERT INTO samples \
     (run_id, task, sample, epoch, record, score, error, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (run_id, task, sample, epoch) DO UPDATE SET \
     record = excluded.record, score = excluded.score, error = excluded.error, \
     created_at = excluded.created_at";

pub(crate) const SELECT_SAMPLES: &str = "SELECT run_id, task, sample, epoch, record, score, error \
     FROM samples WHERE run_id = $1 ORDER BY task, sample, epoch";

pub(crate) const SELECT_FINISHED_KEYS: &str =
    "SELECT task, sample, epoch FROM samples WHERE run_id = $1 AND error IS NULL";

/// One statement both counts the hit and reads the entry, so a lookup is one write.
pub(crate) const CACHE_HIT: &str =
    "UPDATE response_cache SET hits = hits + 1 WHERE key = $1 RETURNING response";

/// A second put for the same key replaces the entry but keeps its hit count.
pub(crate) const CACHE_PUT: &str = "INSERT INTO response_cache \
     (key, model, request, response, created_at, hits) VALUES ($1, $2, $3, $4, $5, 0) \
     ON CONFLICT (key) DO UPDATE SET model = excluded.model, request = excluded.request, \
     response = excluded.response, created_at = excluded.created_at";
