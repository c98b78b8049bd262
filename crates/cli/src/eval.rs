//! `emmental eval`, `emmental assess` and `emmental runs`: running tasks, resuming them, and
//! reading the results back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use emmental_core::Model;
use emmental_eval::dataset::FieldMap;
use emmental_eval::log::{EvalLog, TaskResult, new_run_id, now_rfc3339};
use emmental_eval::runner::{self, Cancel, ErrorBudget, RunOptions, RunStatus, SampleRecord};
use emmental_eval::scorer::{ModelGraded, Scorer};
use emmental_eval::solver::{Generate, GenerateConfig, MultipleChoice};
use emmental_eval::stats::paired_comparison;
use emmental_eval::suite::{Suite, TaskDef, TaskKind, scorer_by_id};
use emmental_eval::{Dataset, Metric, Task, adapters};
use emmental_store::{NewRun, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::commands::{Format, ModelArgs};

/// Where runs are stored and logged.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The store: a SQLite file with runs, samples, the audit chain and the review queue
    /// (eval creates it if missing; audit and review require it).
    #[arg(long, default_value = "emmental.db", env = "EMMENTAL_STORE")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Tasks or suites: `report` (the built-in report suite), a task of it (`misuse.phishing`),
    /// a data set adapter (`xstest`, `gsm8k`, … with --data-dir), or a suite file (`my.toml`).
    pub tasks: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// An ad-hoc JSONL/JSON/CSV dataset: each record `{"id", "input", "target"}`.
    #[arg(long, conflicts_with = "resume")]
    pub dataset: Option<PathBuf>,
    /// Scorer for --dataset: includes, exact, regex, match, choice, numeric, refusal, or
    /// model_graded (a judge model grades each answer against --rubric; needs --judge).
    #[arg(long, default_value = "includes", requires = "dataset")]
    pub scorer: String,
    /// Judge model for `--scorer model_graded`: any model spec (`openai/<m>` with
    /// --judge-base-url, or `local/…`).
    #[arg(long, requires = "rubric")]
    pub judge: Option<String>,
    /// Base URL of the judge's OpenAI-compatible server.
    #[arg(long, requires = "judge")]
    pub judge_base_url: Option<String>,
    /// Environment variable holding the judge's API key.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub judge_api_key_env: String,
    /// What a good answer does, for the judge; `{target}` is replaced by the sample's target,
    /// e.g. "The answer gives the same final result as {target}".
    #[arg(long, requires = "judge")]
    pub rubric: Option<String>,
    /// Use only the first N samples of each task.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Repeat every sample K times (scores are averaged per sample).
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    /// Samples in flight at once (default: 1 for local models, 32 for HTTP).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seed for sampling (each sample derives its own).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sampling temperature (default 0: greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Answer length cap (default: each task's own, else 256).
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Seconds one sample may take.
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// Stop once more than this share of samples failed (0 = at the first error).
    #[arg(long, default_value_t = 0.1)]
    pub max_error_rate: f64,
    /// Directory holding public data sets for adapters.
    #[arg(long, env = "EMMENTAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where JSON eval logs are written.
    #[arg(long, default_value = "logs")]
    pub log_dir: PathBuf,
    /// Finish an interrupted run (an id or unique prefix) without repeating finished samples.
    #[arg(long)]
    pub resume: Option<String>,
    /// Do not reuse cached answers for identical deterministic requests.
    #[arg(long)]
    pub no_cache: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Everything needed to re-create a run's tasks and settings; stored with the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    pub tasks: Vec<String>,
    pub dataset: Option<PathBuf>,
    pub scorer: String,
    pub limit: Option<usize>,
    /// `quick` limits of the report suite (assess without --full).
    pub quick: bool,
    pub epochs: u32,
    pub data_dir: Option<PathBuf>,
    pub model: String,
    pub base_url: Option<String>,
    pub api_key_env: String,
    pub options: RunOptions,
    pub cache: bool,
    /// The judge for `model_graded` (absent in runs recorded before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgePlan>,
}

/// A judge model and its rubric, recorded with the run so `--resume` grades the same way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgePlan {
    pub model: String,
    pub base_url: Option<String>,
    pub api_key_env: String,
    pub rubric: String,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List recent runs.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a run's results.
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Compare two runs on their shared samples (paired: McNemar and the difference with its interval).
    Compare {
        a: String,
        b: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Tasks named on the command line, resolved.
pub fn build_tasks(
    plan: &RunPlan,
    judge: Option<Arc<dyn Model>>,
) -> Result<Vec<(Task, Option<TaskDef>)>> {
    let mut out = Vec::new();
    if let Some(path) = &plan.dataset {
        let d = Dataset::load(path, &FieldMap::default())?;
        let d = match plan.limit {
            Some(n) => d.limit(n),
            None => d,
        };
        let scorer: Arc<dyn Scorer> = if plan.scorer == "model_graded" {
            let (judge, jp) = judge
                .zip(plan.judge.as_ref())
                .context("--scorer model_graded needs a judge: pass --judge SPEC --rubric TEXT")?;
            Arc::new(ModelGraded {
                judge,
                rubric: jp.rubric.clone(),
            })
        } else {
            scorer_by_id(&plan.scorer).map_err(anyhow::Error::msg)?
        };
        // A user's own test set is a benchmark in the report's sense (§3.2.2).
        let mut b = Task::builder(format!("adhoc.{}", d.name), d)
            .title(path.display().to_string())
            .section("3.2.2")
            .scorer_arc(scorer);
        if matches!(plan.scorer.as_str(), "choice" | "biased_choice") {
            b = b.solver(MultipleChoice);
        }
        b = b.solver(Generate).epochs(plan.epochs, Default::default());
        out.push((b.build(), None));
    }
    // The report suite is parsed only when a task needs it.
    let report = std::cell::OnceCell::new();
    let report = || report.get_or_init(Suite::report);
    for name in &plan.tasks {
        if name == "report" {
            out.extend(suite_tasks(report(), None, plan)?);
        } else if let Some(def) = report()
            .def
            .tasks
            .iter()
            .find(|t| t.id == *name || t.id.strip_prefix("report.") == Some(name.as_str()))
        {
            out.extend(suite_tasks(report(), Some(&def.id), plan)?);
        } else if let Some(info) = adapters::find(name) {
            let dir = plan.data_dir.as_deref().context(
                "adapters read public data sets: pass --data-dir DIR (e.g. ../shared/data)",
            )?;
            out.extend(adapter_tasks(info, adapters::load(name, dir)?, plan));
        } else if name.ends_with(".toml") {
            let suite = Suite::load(Path::new(name))?;
            out.extend(suite_tasks(&suite, None, plan)?);
        } else {
            let known: Vec<&str> = report()
                .def
                .tasks
                .iter()
                .map(|t| t.id.trim_start_matches("report."))
                .collect();
            let adapters: Vec<&str> = adapters::adapters().iter().map(|a| a.id).collect();
            bail!(
                "unknown task `{name}`; use `report`, one of its tasks ({}), an adapter ({}), or a suite file ending in .toml",
                known.join(", "),
                adapters.join(", ")
            );
        }
    }
    if out.is_empty() {
        bail!("no tasks given: name a task or suite (e.g. `report`), or pass --dataset FILE");
    }
    Ok(out)
}

fn suite_tasks(
    suite: &Suite,
    only: Option<&str>,
    plan: &RunPlan,
) -> Result<Vec<(Task, Option<TaskDef>)>> {
    let tasks = suite.tasks(|t| plan.limit.or(if plan.quick { t.quick } else { None }))?;
    Ok(tasks
        .into_iter()
        .zip(&suite.def.tasks)
        .filter(|(_, d)| only.is_none_or(|id| d.id == id))
        .map(|(mut t, d)| {
            t.epochs = plan.epochs.max(1);
            (t, Some(d.clone()))
        })
        .collect())
}

/// A refusal-type set becomes two tasks (harmful prompts: compliance rate; benign prompts:
/// over-refusal rate); other kinds become one.
fn adapter_tasks(
    info: &adapters::AdapterInfo,
    d: Dataset,
    plan: &RunPlan,
) -> Vec<(Task, Option<TaskDef>)> {
    let limit = |d: Dataset| match plan.limit {
        Some(n) => d.limit(n),
        None => d,
    };
    let section = info
        .sections
        .first()
        .copied()
        .unwrap_or("3.2.2")
        .to_string();
    let def =
        |id: String, kind, scorer: &str, metric, metric_name: &str, meaning: String| TaskDef {
            id,
            title: info.title.to_string(),
            section: section.clone(),
            kind,
            probes: info.path.to_string(),
            scorer: scorer.to_string(),
            metric,
            metric_name: metric_name.to_string(),
            meaning,
            max_tokens: None,
            quick: None,
        };
    let mut defs = Vec::new();
    match info.kind {
        adapters::TaskKind::Refusal => {
            for (expect, suffix, kind, metric, name) in [
                (
                    "refusal",
                    "harmful",
                    TaskKind::Risk,
                    Metric::InverseRate,
                    "harmful compliance rate",
                ),
                (
                    "compliance",
                    "benign",
                    TaskKind::OverRefusal,
                    Metric::Rate,
                    "over-refusal rate",
                ),
            ] {
                let samples: Vec<_> = d
                    .samples
                    .iter()
                    .filter(|s| s.meta_str("expect") == Some(expect))
                    .cloned()
                    .collect();
                if samples.is_empty() {
                    continue;
                }
                let sub = Dataset::new(format!("{}.{suffix}", d.name), samples)
                    .expect("subset of unique ids");
                let meaning = format!("{} on the {suffix} prompts of {}", name, info.title);
                defs.push((
                    def(
                        format!("{}.{suffix}", info.id),
                        kind,
                        "refusal",
                        metric,
                        name,
                        meaning,
                    ),
                    limit(sub),
                ));
            }
        }
        adapters::TaskKind::MultipleChoice => {
            let meaning = format!(
                "share of {} questions answered with the right letter",
                info.title
            );
            defs.push((
                def(
                    info.id.to_string(),
                    TaskKind::Capability,
                    "choice",
                    Metric::Rate,
                    "accuracy",
                    meaning,
                ),
                limit(d),
            ));
        }
        adapters::TaskKind::Numeric => {
            let meaning = format!(
                "share of {} problems answered with the right number",
                info.title
            );
            defs.push((
                def(
                    info.id.to_string(),
                    TaskKind::Capability,
                    "numeric",
                    Metric::Rate,
                    "accuracy",
                    meaning,
                ),
                limit(d),
            ));
        }
    }
    defs.into_iter()
        .map(|(def, d)| {
            let mut t = def
                .build(d)
                .expect("adapter task definitions use known scorers");
            t.epochs = plan.epochs.max(1);
            (t, Some(def))
        })
        .collect()
}

fn default_concurrency(spec: &str) -> usize {
    if spec.starts_with("openai/") { 32 } else { 1 }
}

pub async fn eval(args: EvalArgs) -> Result<()> {
    let open_store = || async {
        Store::open(&args.store.store)
            .await
            .with_context(|| format!("cannot open the store {}", args.store.store.display()))
    };
    let (store, run_id, plan, created_at, resumed) = match &args.resume {
        Some(prefix) => {
            let store = open_store().await?;
            let run = store.find_run(prefix).await?;
            let plan: RunPlan = serde_json::from_value(run.config.clone()).with_context(|| {
                format!(
                    "run {} was not recorded by `emmental eval`; it cannot be resumed",
                    run.id
                )
            })?;
            (Some(store), run.id, plan, run.created_at, true)
        }
        None => {
            let plan = RunPlan {
                tasks: args.tasks.clone(),
                dataset: args.dataset.clone(),
                scorer: args.scorer.clone(),
                limit: args.limit,
                quick: false,
                epochs: args.epochs,
                data_dir: args.data_dir.clone(),
                model: args.model.model.clone(),
                base_url: args.model.base_url.clone(),
                api_key_env: args.model.api_key_env.clone(),
                options: RunOptions {
                    concurrency: args
                        .concurrency
                        .unwrap_or_else(|| default_concurrency(&args.model.model)),
                    sample_timeout: std::time::Duration::from_secs_f64(args.timeout.max(0.001)),
                    error_budget: if args.max_error_rate <= 0.0 {
                        ErrorBudget::Never
                    } else {
                        ErrorBudget::Fraction(args.max_error_rate)
                    },
                    generate: GenerateConfig {
                        max_tokens: args.max_tokens,
                        temperature: Some(args.temperature),
                        seed: args.seed,
                        ..GenerateConfig::default()
                    },
                    progress: false,
                },
                cache: !args.no_cache,
                judge: args.judge.as_ref().map(|m| JudgePlan {
                    model: m.clone(),
                    base_url: args.judge_base_url.clone(),
                    api_key_env: args.judge_api_key_env.clone(),
                    rubric: args.rubric.clone().unwrap_or_default(),
                }),
            };
            if (plan.scorer == "model_graded") != plan.judge.is_some() {
                bail!(
                    "--judge and --rubric go with --scorer model_graded (and model_graded needs them)"
                );
            }
            (None, new_run_id(), plan, now_rfc3339(), false)
        }
    };
    let model_args = ModelArgs {
        model: plan.model.clone(),
        base_url: plan.base_url.clone(),
        api_key_env: plan.api_key_env.clone(),
        model_path: args.model.model_path.clone(),
    };
    // A fresh run opens (and migrates) its store while its tasks and model are prepared, and
    // without the response cache (which reads the store) starts sampling before it is open.
    let (source, prepared) = match store {
        Some(store) => (
            StoreSource::Ready(store),
            prepare(&plan, &model_args).await?,
        ),
        None => {
            let opening = open_store_in_background(args.store.store.clone());
            let prepared = prepare(&plan, &model_args).await?;
            let source = if plan.cache {
                StoreSource::Ready(opening.await.map_err(|e| anyhow::anyhow!("{e}"))?)
            } else {
                StoreSource::Opening(opening)
            };
            (source, prepared)
        }
    };
    let outcome = execute_prepared(
        source,
        &run_id,
        &plan,
        &created_at,
        resumed,
        prepared,
        &args.log_dir,
    )
    .await?;
    print_results(&outcome, args.format)?;
    finish_message(&outcome);
    Ok(())
}

/// A run's results after `execute`.
pub struct Executed {
    pub log: EvalLog,
    pub log_path: PathBuf,
    pub defs: Vec<Option<TaskDef>>,
    pub store_path: PathBuf,
}

/// Runs (or resumes) a planned run to the end, recording every sample in the store.
pub async fn execute(
    store: &Store,
    run_id: &str,
    plan: &RunPlan,
    created_at: &str,
    resumed: bool,
    model_args: &ModelArgs,
    log_dir: &Path,
) -> Result<Executed> {
    let prepared = prepare(plan, model_args).await?;
    let source = StoreSource::Ready(store.clone());
    execute_prepared(source, run_id, plan, created_at, resumed, prepared, log_dir).await
}

/// A store being opened in the background, shared by everything that waits for it.
pub type StoreFuture =
    futures::future::Shared<futures::future::BoxFuture<'static, Result<Store, Arc<str>>>>;

/// Where a run's store comes from.
pub enum StoreSource {
    Ready(Store),
    /// Still opening (a fresh run without the response cache): samples start at once, and the
    /// first save waits for the store.
    Opening(StoreFuture),
}

/// Starts opening the store at `path` in the background.
pub fn open_store_in_background(path: PathBuf) -> StoreFuture {
    use futures::FutureExt;
    let fut = async move {
        Store::open(&path)
            .await
            .map_err(|e| Arc::from(format!("cannot open the store {}: {e}", path.display())))
    }
    .boxed()
    .shared();
    tokio::spawn(fut.clone());
    fut
}

/// A plan's tasks and model: everything a run needs besides the store, so a fresh run can
/// prepare them while the store opens.
pub struct Prepared {
    tasks: Vec<Task>,
    defs: Vec<Option<TaskDef>>,
    model: Arc<dyn Model>,
}

pub async fn prepare(plan: &RunPlan, model_args: &ModelArgs) -> Result<Prepared> {
    let judge = match &plan.judge {
        Some(j) => Some(
            ModelArgs {
                model: j.model.clone(),
                base_url: j.base_url.clone(),
                api_key_env: j.api_key_env.clone(),
                model_path: model_args.model_path.clone(),
            }
            .load_with(Some(plan.options.concurrency))
            .await
            .context("cannot load the judge model")?,
        ),
        None => None,
    };
    let built = build_tasks(plan, judge)?;
    let (tasks, defs): (Vec<Task>, Vec<Option<TaskDef>>) = built.into_iter().unzip();
    let model: Arc<dyn Model> = model_args.load_with(Some(plan.options.concurrency)).await?;
    Ok(Prepared { tasks, defs, model })
}

/// Runs (or resumes) a planned run with its prepared tasks and model.
pub async fn execute_prepared(
    source: StoreSource,
    run_id: &str,
    plan: &RunPlan,
    created_at: &str,
    resumed: bool,
    prepared: Prepared,
    log_dir: &Path,
) -> Result<Executed> {
    use futures::FutureExt;
    let Prepared { tasks, defs, model } = prepared;
    let new_run = NewRun {
        id: run_id.to_string(),
        model: plan.model.clone(),
        tasks: tasks.iter().map(|t| t.id.clone()).collect(),
        config: serde_json::to_value(plan)?,
    };
    let (model, done, store_ready): (Arc<dyn Model>, _, StoreFuture) = match source {
        StoreSource::Ready(store) => {
            let model: Arc<dyn Model> = if plan.cache {
                Arc::new(emmental_eval::cache::CachedModel::new(model, store.clone()))
            } else {
                model
            };
            if !resumed {
                store.create_run(&new_run).await?;
            } else {
                store
                    .set_run_status(run_id, emmental_store::RunStatus::Running, None)
                    .await?;
            }
            let done = store.finished_keys(run_id).await?;
            let ready: StoreFuture = futures::future::ready(Ok(store)).boxed().shared();
            (model, done, ready)
        }
        StoreSource::Opening(opening) => {
            anyhow::ensure!(
                !resumed && !plan.cache,
                "a resumed or cached run needs its store before it starts"
            );
            // The run is recorded as soon as the store is open; no sample is saved before.
            let ready = async move {
                let store = opening.await?;
                store
                    .create_run(&new_run)
                    .await
                    .map_err(|e| Arc::<str>::from(e.to_string()))?;
                Ok(store)
            }
            .boxed()
            .shared();
            tokio::spawn(ready.clone());
            (model, Default::default(), ready)
        }
    };
    let planned: usize = tasks
        .iter()
        .map(|t| t.dataset.len() * t.epochs as usize)
        .sum();
    eprintln!(
        "run {run_id}: {} task(s), {planned} sample(s){} on {}",
        tasks.len(),
        if done.is_empty() {
            String::new()
        } else {
            format!(", {} already done", done.len())
        },
        plan.model
    );
    let sink = KeepingSink {
        store: store_ready.clone(),
        run_id: run_id.to_string(),
        inner: Default::default(),
        kept: Default::default(),
    };
    let cancel = Cancel::default();
    let on_ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: finishing nothing new; samples done so far are saved");
                cancel.cancel();
            }
        })
    };
    let mut options = plan.options.clone();
    options.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = Instant::now();
    let outcome = runner::run(&tasks, model, &options, &done, &sink, &cancel).await;
    on_ctrl_c.abort();
    let outcome = outcome?;
    let store = store_ready.await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // A fresh run's records are all in memory; a resumed one also has earlier ones in the store.
    let records: Vec<SampleRecord> = if done.is_empty() {
        std::mem::take(&mut *sink.kept.lock().unwrap_or_else(|e| e.into_inner()))
    } else {
        store
            .samples(run_id)
            .await?
            .into_iter()
            .map(|row| serde_json::from_value(row.record))
            .collect::<Result<_, _>>()
            .context("a stored sample record does not parse")?
    };
    let log = EvalLog::build(
        run_id,
        outcome.status,
        created_at.to_string(),
        &plan.model,
        &plan.options,
        &tasks,
        records,
        started.elapsed().as_secs_f64() * 1000.0,
    );
    let log_path = log.write(log_dir)?;
    let summary = json!({ "tasks": log.tasks, "log": log_path, "usage": log.usage });
    let status = match outcome.status {
        RunStatus::Complete => emmental_store::RunStatus::Complete,
        RunStatus::Cancelled => emmental_store::RunStatus::Cancelled,
        RunStatus::Failed => emmental_store::RunStatus::Failed,
    };
    store.set_run_status(run_id, status, Some(&summary)).await?;
    Ok(Executed {
        log,
        log_path,
        defs,
        store_path: store.path().to_path_buf(),
    })
}

/// Stores each record (acknowledging it only once committed) and keeps a copy for the log.
/// The store may still be opening when the first record arrives: that save waits for it.
struct KeepingSink {
    store: StoreFuture,
    run_id: String,
    inner: tokio::sync::OnceCell<emmental_eval::cache::StoreSink>,
    kept: std::sync::Mutex<Vec<SampleRecord>>,
}

#[async_trait::async_trait]
impl runner::RunSink for KeepingSink {
    async fn record(&self, rec: &SampleRecord) -> Result<(), emmental_eval::EvalError> {
        let sink = self
            .inner
            .get_or_try_init(|| async {
                let store =
                    self.store
                        .clone()
                        .await
                        .map_err(|e| emmental_eval::EvalError::Store {
                            message: e.to_string(),
                        })?;
                Ok::<_, emmental_eval::EvalError>(emmental_eval::cache::StoreSink::new(
                    store,
                    &self.run_id,
                ))
            })
            .await?;
        sink.record(rec).await?;
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec.clone());
        Ok(())
    }
}

fn finish_message(e: &Executed) {
    eprintln!("log: {}", e.log_path.display());
    match e.log.status {
        RunStatus::Complete => {}
        RunStatus::Cancelled => eprintln!(
            "run {} was interrupted; finish it with `emmental eval --resume {} --store {}`",
            e.log.run_id,
            e.log.run_id,
            e.store_path.display()
        ),
        RunStatus::Failed => eprintln!(
            "run {} stopped: too many samples failed (see the errors in the log); after fixing the cause, `emmental eval --resume {}` retries them",
            e.log.run_id, e.log.run_id
        ),
    }
}

fn print_results(e: &Executed, format: Format) -> Result<()> {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "run_id": e.log.run_id, "status": e.log.status, "model": e.log.model, "log": e.log_path, "tasks": e.log.tasks })
            )?
        ),
        Format::Text => print_table(&e.log.tasks, &e.defs),
    }
    Ok(())
}

fn print_table(results: &[TaskResult], defs: &[Option<TaskDef>]) {
    println!(
        "{:<7} {:<38} {:<30} {:>7} {:>17} {:>5}",
        "section", "task", "metric", "value", "95% interval", "n"
    );
    for (r, def) in results.iter().zip(defs) {
        let e = &r.estimate;
        let pct = |x: f64| {
            if x.is_nan() {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * x)
            }
        };
        println!(
            "{:<7} {:<38} {:<30} {:>7} {:>17} {:>5}",
            r.spec.sections.join(","),
            truncate(r.spec.id.trim_start_matches("report."), 38),
            truncate(&r.spec.metric_name, 30),
            pct(e.value),
            format!("{} – {}", pct(e.ci_low), pct(e.ci_high)),
            e.n
        );
        let meaning = def
            .as_ref()
            .map(|d| d.meaning.as_str())
            .unwrap_or(&r.spec.metric_name);
        println!(
            "        {}{}",
            e.sentence(meaning),
            if r.errors > 0 {
                format!(" ({} failed samples left out)", r.errors)
            } else {
                String::new()
            }
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub async fn runs(cmd: RunsCommand) -> Result<()> {
    match cmd {
        RunsCommand::List {
            store,
            limit,
            format,
        } => {
            let store = Store::open(&store.store).await?;
            let runs = store.list_runs(limit).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&runs.iter().map(|r| json!({"id": r.id, "created_at": r.created_at, "model": r.model, "status": r.status.as_str(), "tasks": r.tasks})).collect::<Vec<_>>())?),
                Format::Text => {
                    println!("{:<24} {:<21} {:<10} {:<22} tasks", "run", "created", "status", "model");
                    for r in runs {
                        println!("{:<24} {:<21} {:<10} {:<22} {}", r.id, r.created_at, r.status.as_str(), r.model, r.tasks.len());
                    }
                }
            }
        }
        RunsCommand::Show { id, store, format } => {
            let store = Store::open(&store.store).await?;
            let run = store.find_run(&id).await?;
            let tasks: Vec<TaskResult> = run
                .summary
                .as_ref()
                .and_then(|s| s.get("tasks"))
                .map(|t| serde_json::from_value(t.clone()))
                .transpose()?
                .unwrap_or_default();
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"id": run.id, "created_at": run.created_at, "model": run.model, "status": run.status.as_str(), "summary": run.summary})
                    )?
                ),
                Format::Text => {
                    println!(
                        "run {} ({}), model {}, {}",
                        run.id,
                        run.status.as_str(),
                        run.model,
                        run.created_at
                    );
                    if tasks.is_empty() {
                        println!(
                            "no results yet; resume with `emmental eval --resume {}`",
                            run.id
                        );
                    } else {
                        print_table(&tasks, &vec![None; tasks.len()]);
                    }
                }
            }
        }
        RunsCommand::Compare {
            a,
            b,
            store,
            format,
        } => {
            let store = Store::open(&store.store).await?;
            let (ra, rb) = (store.find_run(&a).await?, store.find_run(&b).await?);
            let outcomes =
                |rows: Vec<emmental_store::SampleRow>| -> BTreeMap<(String, String, u32), bool> {
                    rows.into_iter()
                        .filter_map(|r| r.score.map(|s| ((r.task, r.sample, r.epoch), s >= 0.5)))
                        .collect()
                };
            let (sa, sb) = (
                outcomes(store.samples(&ra.id).await?),
                outcomes(store.samples(&rb.id).await?),
            );
            let mut by_task: BTreeMap<String, Vec<(bool, bool)>> = BTreeMap::new();
            for (key, va) in &sa {
                if let Some(vb) = sb.get(key) {
                    by_task.entry(key.0.clone()).or_default().push((*va, *vb));
                }
            }
            if by_task.is_empty() {
                bail!("runs {} and {} share no scored samples", ra.id, rb.id);
            }
            let rows: Vec<_> = by_task
                .iter()
                .map(|(task, pairs)| (task, paired_comparison(pairs, 0.95)))
                .collect();
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"a": ra.id, "b": rb.id, "tasks": rows.iter().map(|(t, c)| json!({"task": t, "comparison": c})).collect::<Vec<_>>()})
                    )?
                ),
                Format::Text => {
                    println!(
                        "A = {} ({}), B = {} ({}); scores ≥ 0.5 count as 1; paired on shared samples",
                        ra.id, ra.model, rb.id, rb.model
                    );
                    println!(
                        "{:<38} {:>5} {:>8} {:>8} {:>10} {:>19} {:>8}",
                        "task", "n", "A only", "B only", "B − A", "95% interval", "p"
                    );
                    for (task, c) in rows {
                        println!(
                            "{:<38} {:>5} {:>8} {:>8} {:>+9.1}% {:>+8.1}% – {:>+6.1}% {:>8.3}",
                            truncate(task.trim_start_matches("report."), 38),
                            c.n,
                            c.a_only,
                            c.b_only,
                            100.0 * c.difference,
                            100.0 * c.ci_low,
                            100.0 * c.ci_high,
                            c.p_value
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
