//! The runner: every (task, sample, epoch) through its solver chain and scorer, concurrently,
//! with a per-sample timeout, an error budget, cancellation, and a record of each finished
//! sample written as soon as it is done (so an interrupted run resumes without repeating it).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use emmental_core::{Model, Usage};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::solver::GenerateConfig;
use crate::{EvalError, Score, Task, TaskState};

/// How many failed samples a run tolerates before it stops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorBudget {
    /// Stop at the first error.
    Never,
    /// Stop once more than this share of the planned samples failed.
    Fraction(f64),
    /// Stop once more than this many samples failed.
    Count(u32),
}

impl ErrorBudget {
    fn exceeded(&self, errors: usize, planned: usize) -> bool {
        match *self {
            ErrorBudget::Never => errors > 0,
            ErrorBudget::Fraction(f) => errors as f64 > f * planned as f64,
            ErrorBudget::Count(n) => errors > n as usize,
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOptions {
    /// Samples in flight at once.
    pub concurrency: usize,
    /// The longest one sample (all its turns and its scoring) may take.
    #[serde(with = "secs")]
    pub sample_timeout: Duration,
    pub error_budget: ErrorBudget,
    pub generate: GenerateConfig,
    /// Show a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            sample_timeout: Duration::from_secs(600),
            error_budget: ErrorBudget::Fraction(0.1),
            generate: GenerateConfig::default(),
            progress: false,
        }
    }
}

/// One finished (or failed) sample, as logged and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub task: String,
    pub sample: String,
    pub epoch: u32,
    /// The conversation and generations (absent when the sample failed before solving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
    pub usage: Usage,
}

/// Where finished samples go as soon as they are done (a store, a log, a test's vector).
#[async_trait]
pub trait RunSink: Send + Sync {
    async fn record(&self, rec: &SampleRecord) -> Result<(), EvalError>;
}

/// Keeps records in memory.
#[derive(Default)]
pub struct MemorySink(pub std::sync::Mutex<Vec<SampleRecord>>);

#[async_trait]
impl RunSink for MemorySink {
    async fn record(&self, rec: &SampleRecord) -> Result<(), EvalError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec.clone());
        Ok(())
    }
}

/// Stops a run from the outside (Ctrl-C): no new samples start, samples in flight are dropped
/// unrecorded (they run again on resume).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<(AtomicBool, tokio::sync::Notify)>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }
    async fn cancelled(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Complete,
    Cancelled,
    /// The error budget was exceeded.
    Failed,
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// Samples finished in this call (not counting ones skipped as already done).
    pub finished: usize,
    pub errors: usize,
    pub skipped: usize,
    pub elapsed: Duration,
}

/// Runs every (task, sample, epoch) not in `done` and sends each result to `sink`.
pub async fn run(
    tasks: &[Task],
    model: Arc<dyn Model>,
    opts: &RunOptions,
    done: &HashSet<(String, String, u32)>,
    sink: &dyn RunSink,
    cancel: &Cancel,
) -> Result<RunOutcome, EvalError> {
    let started = Instant::now();
    let mut work = Vec::new();
    let mut skipped = 0;
    for (ti, task) in tasks.iter().enumerate() {
        for epoch in 0..task.epochs {
            for (si, sample) in task.dataset.samples.iter().enumerate() {
                if done.contains(&(task.id.clone(), sample.id.clone(), epoch)) {
                    skipped += 1;
                } else {
                    work.push((ti, si, epoch));
                }
            }
        }
    }
    let planned = work.len() + skipped;
    let bar = progress_bar(opts.progress, planned as u64, skipped as u64);
    let errors = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let stop = Cancel::default(); // set when the error budget runs out
    let mut sink_error = None;

    let results = futures::stream::iter(work.into_iter().map(|(ti, si, epoch)| {
        let task = &tasks[ti];
        let sample = task.dataset.samples[si].clone();
        let model = model.clone();
        async move {
            let t0 = Instant::now();
            let state = TaskState::new(sample, epoch);
            // The run's answer cap wins; a task's own cap applies when the run sets none.
            let mut cfg = opts.generate.clone();
            cfg.max_tokens = cfg.max_tokens.or(task.max_tokens);
            let outcome = tokio::time::timeout(
                opts.sample_timeout,
                solve_and_score(task, state, model.as_ref(), &cfg),
            )
            .await;
            let duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let (task_id, sample_id) = (task.id.clone(), task.dataset.samples[si].id.clone());
            let rec = |state: Option<TaskState>, score, error| {
                let usage = state.as_ref().map(total_usage).unwrap_or_default();
                SampleRecord {
                    task: task_id.clone(),
                    sample: sample_id.clone(),
                    epoch,
                    state,
                    score,
                    error,
                    duration_ms,
                    usage,
                }
            };
            match outcome {
                Ok(Ok((state, score))) => rec(Some(state), Some(score), None),
                Ok(Err((state, e))) => rec(state, None, Some(e.to_string())),
                Err(_) => rec(
                    None,
                    None,
                    Some(format!(
                        "timed out after {:.0}s",
                        opts.sample_timeout.as_secs_f64()
                    )),
                ),
            }
        }
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .take_until(Box::pin(async {
        tokio::select! {
            _ = cancel.cancelled() => {},
            _ = stop.cancelled() => {},
        }
    }));
    let mut results = std::pin::pin!(results);

    // A sample's slot is free as soon as it is scored; its record is saved beside the samples
    // in flight, so a store commit never sits on the critical path of the next request. A
    // sample counts as finished (and `--resume` skips it) only once its record is saved.
    // Saves waiting at once are bounded, so a slow store holds the run back instead of
    // piling up records in memory.
    let max_saving = 4 * opts.concurrency.max(1);
    let mut saving = futures::stream::FuturesUnordered::new();
    let mut produced_all = false;
    loop {
        tokio::select! {
            next = results.next(), if !produced_all && saving.len() < max_saving => match next {
                Some(rec) => {
                    if rec.error.is_some() {
                        let n = errors.fetch_add(1, Ordering::SeqCst) + 1;
                        tracing::warn!(task = %rec.task, sample = %rec.sample, error = rec.error.as_deref().unwrap_or(""), "sample failed");
                        if opts.error_budget.exceeded(n, planned) {
                            stop.cancel();
                        }
                    }
                    saving.push(async move { sink.record(&rec).await });
                }
                None => produced_all = true,
            },
            Some(saved) = saving.next(), if !saving.is_empty() => {
                if let Err(e) = saved {
                    // A result that cannot be saved must not be silently dropped: stop the run.
                    sink_error = Some(e);
                    stop.cancel();
                }
                finished.fetch_add(1, Ordering::SeqCst);
                bar.inc(1);
            },
            else => break,
        }
    }
    bar.finish_and_clear();
    if let Some(e) = sink_error {
        return Err(e);
    }
    let errors = errors.into_inner();
    let status = if stop.is_cancelled() {
        RunStatus::Failed
    } else if cancel.is_cancelled() {
        RunStatus::Cancelled
    } else {
        RunStatus::Complete
    };
    Ok(RunOutcome {
        status,
        finished: finished.into_inner(),
        errors,
        skipped,
        elapsed: started.elapsed(),
    })
}

type Failure = (Option<TaskState>, EvalError);

async fn solve_and_score(
    task: &Task,
    mut state: TaskState,
    model: &dyn Model,
    cfg: &GenerateConfig,
) -> Result<(TaskState, Score), Failure> {
    for solver in &task.solvers {
        // Keep what was solved so far for the log, even when a later step fails.
        let before = state.clone();
        state = solver
            .solve(state, model, cfg)
            .await
            .map_err(|e| (Some(before), e))?;
    }
    match task.scorer.score(&state).await {
        Ok(score) => Ok((state, score)),
        Err(e) => Err((Some(state), e)),
    }
}

fn total_usage(state: &TaskState) -> Usage {
    state
        .generations
        .iter()
        .fold(Usage::default(), |u, g| Usage {
            prompt_tokens: u.prompt_tokens + g.usage.prompt_tokens,
            completion_tokens: u.completion_tokens + g.usage.completion_tokens,
        })
}

fn progress_bar(show: bool, len: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bar:30} {pos}/{len} samples  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(done);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(serde::de::Error::custom(
                "a timeout must be a positive number of seconds",
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }
}
