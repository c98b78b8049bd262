//! The values the store takes and gives back: runs, samples, and run status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a run stands. Stored as its [`as_str`](RunStatus::as_str) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished: still going, or its process died (resume it).
    Running,
    /// Every sample was attempted.
    Complete,
    /// Stopped on request before every sample was attempted.
    Cancelled,
    /// Stopped by a fault (for example, the error budget was spent).
    Failed,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Running,
        RunStatus::Complete,
        RunStatus::Cancelled,
        RunStatus::Failed,
    ];

    /// The stable name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = ParseRunStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseRunStatusError(s.to_owned()))
    }
}

/// A string that is not one of the [`RunStatus`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run status {0:?}; expected one of running, complete, cancelled, failed")]
pub struct ParseRunStatusError(pub String);

/// A run to create with [`Store::create_run`](crate::Store::create_run); it starts as
/// [`RunStatus::Running`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// Unique run id, chosen by the caller; [`Store::find_run`](crate::Store::find_run) matches
    /// on its prefix, so ids should differ early (a random or time-ordered hex id does).
    pub id: String,
    /// The model under evaluation, as the user named it.
    pub model: String,
    /// Ids of the tasks in the run.
    pub tasks: Vec<String>,
    /// Everything needed to re-create the run (components with their arguments).
    pub config: Value,
}

/// A stored run, every column parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: String,
    /// RFC 3339 UTC, fixed width (`2026-03-21T09:15:02.123456Z`).
    pub created_at: String,
    /// RFC 3339 UTC; changes when the status does.
    pub updated_at: String,
    pub model: String,
    pub tasks: Vec<String>,
    pub config: Value,
    pub status: RunStatus,
    /// Set by [`Store::set_run_status`](crate::Store::set_run_status), typically on completion.
    pub summary: Option<Value>,
}

/// One attempt at one sample in one epoch of a task. The key is
/// `(run_id, task, sample, epoch)`; writing the same key again replaces the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub run_id: String,
    /// Task id.
    pub task: String,
    /// Sample id, stable within its dataset.
    pub sample: String,
    pub epoch: u32,
    /// The full per-sample record (input, output, scores, timings) as the eval log writes it.
    pub record: Value,
    /// The headline score, where the task has one.
    pub score: Option<f64>,
    /// Why the sample failed; a sample with an error is retried when the run resumes.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_status_names_round_trip() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                Value::String(status.to_string())
            );
        }
        let err = "done".parse::<RunStatus>().unwrap_err();
        assert!(err.to_string().contains("\"done\""), "{err}");
    }
}
