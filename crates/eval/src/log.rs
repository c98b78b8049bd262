//! The eval log: one JSON file per run, versioned, holding every component's id and arguments,
//! the model, the seed, the package version, each sample's transcript, score and timing, and
//! each task's estimate. A run can be re-created from its log alone.
//!
//! Format changes add fields with defaults; `tests/fixtures/eval_log_v1.json` must keep parsing.

use std::path::{Path, PathBuf};

use emmental_core::Usage;
use serde::{Deserialize, Serialize};

use crate::runner::{RunOptions, RunStatus, SampleRecord};
use crate::{Estimate, EvalError, Task, TaskSpec};

/// The log format version this build writes.
pub const LOG_VERSION: u32 = 1;

/// One task's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub spec: TaskSpec,
    pub estimate: Estimate,
    /// Samples (× epochs) that failed and are not in the estimate.
    pub errors: usize,
    pub usage: Usage,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalLog {
    pub version: u32,
    pub run_id: String,
    pub status: RunStatus,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub finished_at: String,
    /// The Emmental version that wrote the log.
    pub emmental_version: String,
    /// The model spec, e.g. `local/smollm2-135m`.
    pub model: String,
    pub options: RunOptions,
    pub tasks: Vec<TaskResult>,
    pub samples: Vec<SampleRecord>,
    pub usage: Usage,
    pub duration_ms: f64,
}

impl EvalLog {
    /// Summarises `records` (every finished sample of the run, from this call and earlier ones).
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        run_id: &str,
        status: RunStatus,
        created_at: String,
        model: &str,
        options: &RunOptions,
        tasks: &[Task],
        mut records: Vec<SampleRecord>,
        duration_ms: f64,
    ) -> Self {
        records.sort_by(|a, b| (&a.task, &a.sample, a.epoch).cmp(&(&b.task, &b.sample, b.epoch)));
        let results = tasks
            .iter()
            .map(|t| {
                let mine: Vec<&SampleRecord> = records.iter().filter(|r| r.task == t.id).collect();
                let estimate = t.summarise(
                    mine.iter()
                        .filter_map(|r| r.score.as_ref().map(|s| (r.sample.as_str(), r.epoch, s))),
                );
                TaskResult {
                    spec: t.spec(),
                    estimate,
                    errors: mine.iter().filter(|r| r.error.is_some()).count(),
                    usage: sum_usage(mine.iter().map(|r| r.usage)),
                }
            })
            .collect();
        Self {
            version: LOG_VERSION,
            run_id: run_id.into(),
            status,
            created_at,
            finished_at: now_rfc3339(),
            emmental_version: env!("CARGO_PKG_VERSION").into(),
            model: model.into(),
            options: options.clone(),
            tasks: results,
            usage: sum_usage(records.iter().map(|r| r.usage)),
            samples: records,
            duration_ms,
        }
    }

    /// Writes `<dir>/<run_id>.json` (atomically: a temporary file renamed into place).
    pub fn write(&self, dir: &Path) -> Result<PathBuf, EvalError> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::Io {
            path: dir.into(),
            source: e,
        })?;
        let path = dir.join(format!("{}.json", self.run_id));
        let tmp = dir.join(format!(".{}.json.tmp", self.run_id));
        let json = serde_json::to_vec_pretty(self).expect("logs serialise");
        std::fs::write(&tmp, json).map_err(|e| EvalError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        std::fs::rename(&tmp, &path).map_err(|e| EvalError::Io {
            path: path.clone(),
            source: e,
        })?;
        Ok(path)
    }

    /// Reads a log, refusing versions newer than this build understands.
    pub fn read(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Io {
            path: path.into(),
            source: e,
        })?;
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| EvalError::Dataset {
                source_name: path.display().to_string(),
                message: format!("not a JSON eval log: {e}"),
            })?;
        let version = raw.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version == 0 || version > LOG_VERSION as u64 {
            return Err(EvalError::Dataset {
                source_name: path.display().to_string(),
                message: format!(
                    "eval log version {version} is not supported by this build (it reads versions 1 to {LOG_VERSION})"
                ),
            });
        }
        serde_json::from_value(raw).map_err(|e| EvalError::Dataset {
            source_name: path.display().to_string(),
            message: format!("malformed eval log: {e}"),
        })
    }
}

fn sum_usage(it: impl Iterator<Item = Usage>) -> Usage {
    it.fold(Usage::default(), |a, u| Usage {
        prompt_tokens: a.prompt_tokens + u.prompt_tokens,
        completion_tokens: a.completion_tokens + u.completion_tokens,
    })
}

/// Timestamps in logs are the store's: RFC 3339 UTC, fixed width, strictly increasing.
pub use emmental_store::now_rfc3339;

/// A fresh run id: UTC time to the second plus random bits, sortable by creation time,
/// e.g. `20261123-233221-a1b2c3`.
pub fn new_run_id() -> String {
    let now = now_rfc3339(); // 2026-11-23T23:32:21.123456Z
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let salt =
        emmental_core::rng::SplitMix64::new(u64::from(nanos) ^ u64::from(std::process::id()))
            .next_u64();
    format!(
        "{}-{}-{:06x}",
        &digits[..8],
        &digits[8..14],
        salt & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), "20261123-233221-abcdef".len());
        assert_ne!(a, b);
    }
}
