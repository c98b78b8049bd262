//! Emmental's embedded store: eval runs, their per-sample results, a cache of model responses,
//! and the guard's tamper-evident audit chain and human-review queue, in one SQLite file. The
//! principal type is [`Store`].
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
//! # The guard: audit chain and review queue
//!
//! The guard proxy appends one [`AuditEvent`] per decision and sends its response only after
//! [`Store::append_audit`] returned (the record is then committed); concurrent appends are
//! batched into shared transactions by one writer thread. Escalated exchanges go to the review
//! queue ([`Store::enqueue_review`]); the proxy may hold the request with
//! [`Store::wait_review`]; reviewers decide with [`Store::decide_review`]. Every queue change is
//! audited in the same transaction. [`Store::verify_audit`] re-checks the chain; the
//! [`audit`] module says exactly how the hashes are computed, so an auditor can re-implement
//! the check, and what a chain cannot detect without a head recorded elsewhere.
//!
//! ```no_run
//! # async fn demo() -> Result<(), emmental_store::StoreError> {
//! use std::time::Duration;
//! use emmental_store::{AuditEvent, NewReview, ReviewDecision, ReviewStatus, Store};
//! use serde_json::json;
//!
//! let store = Store::open(std::path::Path::new("emmental.db")).await?;
//! // Never raw texts or secrets: ids, scores, span types and offsets, timings.
//! let seqs = store
//!     .append_audit(vec![
//!         AuditEvent::new("req-7f3a", "input", "allow")
//!             .key_id("5e884898da280471") // the guard's hash of the API key
//!             .layer("input.injection")
//!             .detail(json!({"score": 0.03, "timings_us": {"scan": 412}})),
//!     ])
//!     .await?; // committed: the response may now leave
//!
//! let id = store
//!     .enqueue_review(NewReview {
//!         request_id: "req-7f3a".into(),
//!         key_id: Some("5e884898da280471".into()),
//!         layer: "output.harm".into(),
//!         reason: "harm score 0.91 >= 0.8".into(),
//!         exchange: json!({"messages": [], "response": "…"}),
//!     })
//!     .await?;
//! let item = store.wait_review(&id, Duration::from_secs(30)).await?;
//! if item.status == ReviewStatus::Pending {
//!     // Nobody decided in time: apply the configured default and close the item.
//!     store.decide_review(&id, ReviewDecision::Expire, "guard", None).await?;
//! }
//! let check = store.verify_audit().await?;
//! assert!(check.is_ok(), "{:?}", check.problems);
//! # Ok(()) }
//! ```
//!
//! # How the file is used
//!
//! - **WAL mode**, so readers (a dashboard, `emmental runs`) never wait for the writer.
//! - **One write connection.** SQLite allows one writer at a time; many tokio tasks writing at
//!   once queue for that connection instead of failing with `SQLITE_BUSY`. Another process
//!   writing the same file is waited for (`busy_timeout`).
//! - **The audit chain has its own writer** (a thread with its own connection, which batches
//!   concurrent appends) **and its own checkpointer**: the write-ahead log is copied into the
//!   file by a thread of its own once it holds 1,000 pages, not inside an append, so no
//!   request waits for the copy and its sync. (Appends synced for power loss, which wait for
//!   the disk anyway, checkpoint as they go: beside them the thread's syncs cost more.)
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
