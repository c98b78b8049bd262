//! [`StoreError`], the one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Each variant names the store file it concerns, so a
/// message read in a log says which file to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory that should hold the store file could not be created.
    #[error("cannot create the directory for store {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a SQLite database (or is encrypted, or its header is damaged).
    #[error("{} is not an Emmental store: the file exists but is not a SQLite database", path.display())]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// The file is a SQLite database that some other program made; the store leaves it alone.
    #[error(
        "{} is a SQLite database but not an Emmental store (it has tables {} and no schema \
         version); refusing to change it",
        path.display(),
        tables.join(", ")
    )]
    ForeignDatabase { path: PathBuf, tables: Vec<String> },
    /// The database could not be opened or configured.
    #[error("cannot open store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// The file was written by a newer Emmental whose schema this build does not know.
    #[error(
        "store {} has schema version {found}, newer than version {supported} that this build \
         of Emmental understands; open it with a newer Emmental",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Bringing the schema up to date failed.
    #[error("cannot migrate store {} to schema version {target}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        target: i64,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed; `operation` is the [`Store`](crate::Store) method that ran it.
    #[error("store {}: {operation} failed: {source}", path.display())]
    Query {
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The audit writer's own connection failed (`operation` as in [`Self::Query`]).
    #[error("store {}: {operation} failed: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// `create_run` was given an id that is already taken.
    #[error("store {}: a run with id {id:?} already exists", path.display())]
    DuplicateRun { path: PathBuf, id: String },
    /// The run id given does not exist.
    #[error("store {}: no run with id {id:?}", path.display())]
    UnknownRun { path: PathBuf, id: String },
    /// No run id starts with the prefix given to `find_run`.
    #[error("store {}: no run id starts with {prefix:?}", path.display())]
    NoRunMatches { path: PathBuf, prefix: String },
    /// More than one run id starts with the prefix given to `find_run`.
    #[error(
        "store {}: run id prefix {prefix:?} is ambiguous; it matches {}{}",
        path.display(),
        candidates.join(", "),
        if *more { ", …" } else { "" }
    )]
    AmbiguousRun {
        path: PathBuf,
        prefix: String,
        /// Matching ids, sorted, at most [`AMBIGUOUS_LIST_MAX`](crate::AMBIGUOUS_LIST_MAX).
        candidates: Vec<String>,
        /// Whether more ids matched than `candidates` lists.
        more: bool,
    },
    /// An audit event was refused before anything was written; `field` says which part.
    #[error("store {}: invalid audit event: `{field}` {reason}", path.display())]
    InvalidAuditEvent {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
    /// The thread that writes the audit chain could not be started or stopped before it
    /// answered; nothing was appended.
    #[error("store {}: the audit writer is not running; nothing was appended", path.display())]
    AuditWriterStopped { path: PathBuf },
    /// A failure shared by every append that was batched into the same transaction.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
    /// A review request was refused before anything was written; `field` says which part.
    #[error("store {}: invalid review: `{field}` {reason}", path.display())]
    InvalidReview {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
    /// No review id starts with the prefix given.
    #[error("store {}: no review id starts with {prefix:?}", path.display())]
    NoReviewMatches { path: PathBuf, prefix: String },
    /// More than one review id starts with the prefix given.
    #[error(
        "store {}: review id prefix {prefix:?} is ambiguous; it matches {}{}",
        path.display(),
        candidates.join(", "),
        if *more { ", …" } else { "" }
    )]
    AmbiguousReview {
        path: PathBuf,
        prefix: String,
        /// Matching ids, sorted, at most [`AMBIGUOUS_LIST_MAX`](crate::AMBIGUOUS_LIST_MAX).
        candidates: Vec<String>,
        /// Whether more ids matched than `candidates` lists.
        more: bool,
    },
    /// The review was already decided (or expired); a decision is final.
    #[error(
        "store {}: review {id} is already {status} (by {}, at {}); a decision is final",
        path.display(),
        decided_by.as_deref().unwrap_or("unknown"),
        decided_at.as_deref().unwrap_or("unknown time")
    )]
    AlreadyDecided {
        path: PathBuf,
        id: String,
        status: crate::ReviewStatus,
        decided_by: Option<String>,
        decided_at: Option<String>,
    },
    /// A stored value could not be read back (invalid JSON, an unknown status, a negative epoch).
    #[error("store {}: {operation}: column {column} holds invalid data: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        operation: &'static str,
        column: &'static str,
        detail: String,
    },
}
