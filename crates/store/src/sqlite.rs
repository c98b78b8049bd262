//! Opening a SQLite store file: connection settings, the schema check, and migrations.
//!
//! Everything specific to SQLite lives here; the queries in [`crate::sql`] are shared SQL. A
//! PostgreSQL backend would add a sibling module that opens a `PgPool` and runs its own
//! migrations directory, and `Store` would hold either pool.

use std::path::Path;
use std::time::Duration;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

/// The schema version this build writes and understands: the highest migration below.
pub const SCHEMA_VERSION: i64 = 3;

/// How long a write waits for the database: for its turn on the single write connection, and
/// for a lock held by another process (`busy_timeout`). Writes are short, so reaching this means
/// something is stuck, not merely busy.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Readers run beside the writer (WAL lets them); a few suffice for a CLI or a dashboard.
const MAX_READERS: u32 = 4;

/// SQLite's result code for "file is not a database".
const SQLITE_NOTADB: &str = "26";

/// The write pool and the read pool of one store file.
pub(crate) struct Pools {
    /// Exactly one connection: SQLite allows one writer at a time, so writers queue here for
    /// their turn (in order) instead of racing for the file lock and failing with SQLITE_BUSY.
    pub writer: SqlitePool,
    /// Read-only connections, which in WAL mode never wait for the writer.
    pub reader: SqlitePool,
}

fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "audit_review".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0002_audit_review.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "review_fingerprint".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0003_review_fingerprint.sql").into_sql_str(),
            false,
        ),
    ]
}

/// Opens (creating if needed) the store file at `path` and brings its schema up to date.
pub(crate) async fn open(path: &Path) -> Result<Pools, StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: path.to_owned(),
            source,
        })?;
    }

    let writer_options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL: readers do not block the writer nor the writer them, and a commit is one
        // sequential append to the -wal file.
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL, not FULL: in WAL mode a commit is written to the -wal file before the call
        // returns, so it survives the process being killed (SIGKILL, panic, OOM); only an OS
        // crash or power loss can lose the last commits, because NORMAL skips the fsync per
        // commit. Losing a tail of samples to a power cut costs a re-run of those samples on
        // `--resume`; an fsync per sample would cost every run, always. The audit chain can
        // ask for FULL on its own commits (`AuditDurability::PowerLoss`).
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(LOCK_WAIT);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        // Keep the write connection open: the last connection to close checkpoints and removes
        // the -wal file, which would make the next write reopen and re-read the schema.
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        // A local file's connection does not go stale; the check before each acquire is a
        // round trip to SQLite's worker thread on every write (the audit chain's among them).
        .test_before_acquire(false)
        .acquire_timeout(LOCK_WAIT)
        .connect_with(writer_options)
        .await
        .map_err(|source| open_error(path, source))?;

    check_schema(path, &writer).await?;
    let mut migrator = Migrator::with_migrations(migrations());
    // The newer-schema check above gives the clear message; this makes sqlx refuse too.
    migrator.set_ignore_missing(false);
    migrator
        .run(&writer)
        .await
        .map_err(|source| StoreError::Migrate {
            path: path.to_owned(),
            target: SCHEMA_VERSION,
            source,
        })?;

    let reader_options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .foreign_keys(true)
        .busy_timeout(LOCK_WAIT);
    let reader = SqlitePoolOptions::new()
        .max_connections(MAX_READERS)
        .acquire_timeout(LOCK_WAIT)
        .connect_with(reader_options)
        .await
        .map_err(|source| open_error(path, source))?;

    Ok(Pools { writer, reader })
}

/// Refuses a file written by a newer schema, and a SQLite file that belongs to something else.
async fn check_schema(path: &Path, writer: &SqlitePool) -> Result<(), StoreError> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(writer)
            .await
            .map_err(|source| open_error(path, source))?;
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        if tables.is_empty() {
            return Ok(());
        }
        return Err(StoreError::ForeignDatabase {
            path: path.to_owned(),
            tables,
        });
    }
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(writer)
        .await
        .map_err(|source| open_error(path, source))?;
    match found {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

fn open_error(path: &Path, source: sqlx::Error) -> StoreError {
    let not_a_database = matches!(
        &source,
        sqlx::Error::Database(db) if db.code().as_deref() == Some(SQLITE_NOTADB)
    );
    if not_a_database {
        StoreError::NotADatabase {
            path: path.to_owned(),
            source,
        }
    } else {
        StoreError::Open {
            path: path.to_owned(),
            source,
        }
    }
}
