//! Emmental's embedded store: eval runs, their per-sample results, and a cache of model
//! responses, in one SQLite file. The principal type is [`Store`].
//!
//! The store is what makes `--resume` work. An eval writes each sample as it finishes with
//! [`Store::put_sample`]; when that call returns, the row is committed, so a run killed at any
//! point loses no acknowledged sample. Resuming asks [`Store::finished_keys`] which
//! `(task, sample, epoch)` keys are done and runs only the rest; failed samples are not "done",
//! so they are retried, and their retry replaces the failure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), emmental_store::StoreError> {
//! use emmental_store::{NewRun, RunStatus, SampleRow, Store};
//! use serde_json::json;
//!
//! let store = Store::open(std::path::Path::new("runs/emmental.db")).await?;
//! store
//!     .create_run(&NewRun {
//!         id: "3f2a9c".into(),
//!         model: "smollm2-135m".into(),
//!         tasks: vec!["capability.arithmetic".into()],
//!         config: json!({"epochs": 1}),
//!     })
//!     .await?;
//! store
//!     .put_sample(&SampleRow {
//!         run_id: "3f2a9c".into(),
//!         task: "capability.arithmetic".into(),
//!         sample: "add-001".into(),
//!         epoch: 0,
//!         record: json!({"output": "4"}),
//!         score: Some(1.0),
//!         error: None,
//!     })
//!     .await?;
//! store
//!     .set_run_status("3f2a9c", RunStatus::Complete, Some(&json!({"accuracy": 1.0})))
//!     .await?;
//! let run = store.find_run("3f").await?; // a unique prefix, as with git
//! # Ok(()) }
//! ```
//!
//! # How the file is used
//!
//! - **WAL mode**, so readers (a dashboard, `emmental runs`) never wait for the writer.
//! - **One write connection.** SQLite allows one writer at a time; many tokio tasks writing at
//!   once queue for that connection instead of failing with `SQLITE_BUSY`. Another process
//!   writing the same file is waited for (`busy_timeout`).
//! - **`synchronous = NORMAL`**: a commit survives the process being killed; only an OS crash or
//!   power cut may lose the last few, which a resume then re-runs.
//! - **Foreign keys on**: a sample for a run that does not exist is refused.
//! - **Versioned schema** (sqlx migrations, recorded in `_sqlx_migrations`). [`Store::open`]
//!   migrates older files and refuses files from a newer Emmental ([`StoreError::SchemaTooNew`]).
//!
//! JSON values are stored as text and timestamps as fixed-width RFC 3339 UTC text, and the
//! queries use the SQL that SQLite and PostgreSQL share, so a PostgreSQL backend (several eval
//! workers sharing one store) needs a second connection module, not a second set of queries.

pub mod audit;
pub mod canonical;
mod clock;
mod error;
pub mod review;
mod rows;
mod sql;
mod sqlite;
mod store;

pub use audit::{
    AuditDurability, AuditEvent, AuditHead, AuditProblem, AuditProblemKind, AuditRecord,
    AuditVerification,
};
pub use clock::now_rfc3339;
pub use error::StoreError;
pub use review::{NewReview, ReviewDecision, ReviewItem, ReviewStatus};
pub use rows::{NewRun, ParseRunStatusError, RunRow, RunStatus, SampleRow};
pub use sqlite::SCHEMA_VERSION;
pub use store::{AMBIGUOUS_LIST_MAX, Store};
