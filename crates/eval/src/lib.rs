//! Evaluation harness with honest statistics. The principal type is [`Task`]: a [`Dataset`] of
//! samples, a chain of [`Solver`]s that asks a model, [`Scorer`]s that judge the answers, and
//! metrics that turn scores into [`Estimate`]s — a value, its 95% interval and the sample count.
//!
//! The report's §3 warns that spot checks "do not provide quantitative guarantees"; this crate
//! says exactly how much each one shows: Wilson intervals for rates, a one-sided Clopper–Pearson
//! bound when nothing was seen, bootstrap intervals for means, paired tests for comparisons.

pub mod adapters;
pub mod cache;
pub mod dataset;
pub mod detector_scorer;
pub mod log;
pub mod runner;
pub mod scorer;
pub mod solver;
pub use emmental_core::stats;
pub mod suite;
pub mod task;

pub use dataset::{Dataset, FieldMap, Input, Sample, Target};
pub use scorer::{Score, Scorer};
pub use solver::{Solver, TaskState};
pub use stats::Estimate;
pub use task::{EpochReducer, Metric, Task, TaskSpec};

use std::path::{Path, PathBuf};

/// Errors of the evaluation harness.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("dataset {source_name}: {message}")]
    Dataset {
        source_name: String,
        message: String,
    },
    #[error("solver {solver}: {message}")]
    Solver { solver: String, message: String },
    #[error("scorer {scorer}: {message}")]
    Scorer { scorer: String, message: String },
    #[error(transparent)]
    Model(#[from] emmental_core::ModelError),
    #[error("cannot save results: {message}")]
    Store { message: String },
}

impl EvalError {
    /// Names the file a dataset error came from.
    pub fn with_path(self, path: &Path) -> Self {
        match self {
            EvalError::Dataset { message, .. } => EvalError::Dataset {
                source_name: path.display().to_string(),
                message,
            },
            other => other,
        }
    }
}
