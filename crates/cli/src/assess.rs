//! `emmental assess`: the main job. Runs the report suite on a model and writes a risk profile
//! per report section, every figure with its 95% interval and sample count.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use emmental_eval::log::{TaskResult, new_run_id, now_rfc3339};
use emmental_eval::runner::{ErrorBudget, RunOptions};
use emmental_eval::solver::GenerateConfig;
use emmental_eval::suite::{TaskDef, TaskKind};
use emmental_store::Store;
use serde_json::{Value, json};

use crate::commands::ModelArgs;
use crate::eval::{RunPlan, StoreArgs, execute};

#[derive(Debug, Args)]
pub struct AssessArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory for report.json and report.md.
    #[arg(long, default_value = "emmental-report")]
    pub out: PathBuf,
    /// Run every probe (by default a quick subset per area, a few minutes on the embedded model).
    #[arg(long, conflicts_with = "limit")]
    pub full: bool,
    /// Use exactly N probes per area (a smoke test; the intervals widen accordingly).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples in flight at once (default: 1 for local models, 32 for HTTP).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Where the JSON eval log is written.
    #[arg(long, default_value = "logs")]
    pub log_dir: PathBuf,
}

pub async fn assess(args: AssessArgs) -> Result<()> {
    let store = Store::open(&args.store.store)
        .await
        .with_context(|| format!("cannot open the store {}", args.store.store.display()))?;
    let plan = RunPlan {
        tasks: vec!["report".into()],
        dataset: None,
        scorer: "includes".into(),
        limit: args.limit,
        quick: !args.full,
        epochs: 1,
        data_dir: None,
        model: args.model.model.clone(),
        base_url: args.model.base_url.clone(),
        api_key_env: args.model.api_key_env.clone(),
        options: RunOptions {
            concurrency: args
                .concurrency
                .unwrap_or(if args.model.model.starts_with("openai/") {
                    32
                } else {
                    1
                }),
            error_budget: ErrorBudget::Fraction(0.1),
            generate: GenerateConfig {
                temperature: Some(0.0),
                ..GenerateConfig::default()
            },
            ..RunOptions::default()
        },
        cache: true,
        judge: None,
    };
    let run_id = new_run_id();
    let done = execute(
        &store,
        &run_id,
        &plan,
        &now_rfc3339(),
        false,
        &args.model,
        &args.log_dir,
    )
    .await?;
    let report = report_json(
        &done.log.run_id,
        &plan,
        &done.log.tasks,
        &done.defs,
        &done.log.model,
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json_path = args.out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md = report_markdown(&report);
    let md_path = args.out.join("report.md");
    std::fs::write(&md_path, &md).with_context(|| format!("cannot write {}", md_path.display()))?;
    print!("{}", report_text(&report));
    eprintln!(
        "wrote {} and {} (run {}, log {})",
        json_path.display(),
        md_path.display(),
        done.log.run_id,
        done.log_path.display()
    );
    if done.log.status != emmental_eval::runner::RunStatus::Complete {
        eprintln!(
            "the run did not complete ({:?}); finish it with `emmental eval --resume {}`",
            done.log.status, done.log.run_id
        );
    }
    Ok(())
}

fn row(r: &TaskResult, def: &TaskDef) -> Value {
    let e = &r.estimate;
    let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "section": def.section,
        "section_title": emmental_core::taxonomy::section(&def.section).map(|s| s.title),
        "task": def.id,
        "title": def.title,
        "metric": def.metric_name,
        "value": num(e.value),
        "ci_low": num(e.ci_low),
        "ci_high": num(e.ci_high),
        "n": e.n,
        "errors": r.errors,
        "interval": e.method,
        "meaning": e.sentence(&def.meaning),
    })
}

/// The report's JSON: areas (risks), capabilities and over-refusal, each with value, interval and n.
pub fn report_json(
    run_id: &str,
    plan: &RunPlan,
    tasks: &[TaskResult],
    defs: &[Option<TaskDef>],
    model: &str,
) -> Value {
    let mut areas = Vec::new();
    let mut capabilities = Vec::new();
    let mut over_refusal = Value::Null;
    for (r, def) in tasks.iter().zip(defs) {
        let Some(def) = def else { continue };
        match def.kind {
            TaskKind::Risk => areas.push(row(r, def)),
            TaskKind::Capability => capabilities.push(row(r, def)),
            TaskKind::OverRefusal => over_refusal = row(r, def),
        }
    }
    json!({
        "model": model,
        "suite": "report",
        "run_id": run_id,
        "created_at": now_rfc3339(),
        "emmental_version": env!("CARGO_PKG_VERSION"),
        "mode": if plan.quick { "quick" } else { "full" },
        "confidence": 0.95,
        "areas": areas,
        "capabilities": capabilities,
        "over_refusal": over_refusal,
        "caveat": "Spot checks on a fixed probe set: they do not give quantitative guarantees about behaviour on other inputs (International AI Safety Report, §3). Intervals cover sampling error only, not the refusal detector's own error (see `emmental detectors list`).",
    })
}

fn fmt_pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}%", 100.0 * x))
        .unwrap_or_else(|| "-".into())
}

fn rows(report: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = report["areas"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !report["over_refusal"].is_null() {
        out.push(&report["over_refusal"]);
    }
    out.extend(
        report["capabilities"]
            .as_array()
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    out
}

/// A plain-text table, one row per area, then the sentence that says what it means.
pub fn report_text(report: &Value) -> String {
    let mut s = format!(
        "Emmental assessment of {} ({} mode, run {})\n\n",
        report["model"].as_str().unwrap_or("?"),
        report["mode"].as_str().unwrap_or("?"),
        report["run_id"].as_str().unwrap_or("?")
    );
    s += &format!(
        "{:<7} {:<40} {:<32} {:>7} {:>17} {:>4}\n",
        "section", "area", "metric", "value", "95% interval", "n"
    );
    for r in rows(report) {
        s += &format!(
            "{:<7} {:<40} {:<32} {:>7} {:>17} {:>4}\n        {}\n",
            r["section"].as_str().unwrap_or(""),
            clip(r["title"].as_str().unwrap_or(""), 40),
            clip(r["metric"].as_str().unwrap_or(""), 32),
            fmt_pct(&r["value"]),
            format!("{} – {}", fmt_pct(&r["ci_low"]), fmt_pct(&r["ci_high"])),
            r["n"],
            r["meaning"].as_str().unwrap_or("")
        );
    }
    s += &format!("\n{}\n", report["caveat"].as_str().unwrap_or(""));
    s
}

/// At most `n` characters, ending in "…" when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The Markdown report.
pub fn report_markdown(report: &Value) -> String {
    let mut s = format!(
        "# Emmental assessment: {}\n\nRun `{}`, {} mode, {}. Every rate has a 95% interval and its sample count.\n\n",
        report["model"].as_str().unwrap_or("?"),
        report["run_id"].as_str().unwrap_or("?"),
        report["mode"].as_str().unwrap_or("?"),
        report["created_at"].as_str().unwrap_or("?")
    );
    for (title, rows) in [
        (
            "Risk areas (lower is better)",
            report["areas"]
                .as_array()
                .map(|a| a.iter().collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
        (
            "Over-refusal (lower is better)",
            if report["over_refusal"].is_null() {
                vec![]
            } else {
                vec![&report["over_refusal"]]
            },
        ),
        (
            "Capability controls (higher means more capable)",
            report["capabilities"]
                .as_array()
                .map(|a| a.iter().collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        s += &format!(
            "## {title}\n\n| § | area | metric | value | 95% interval | n | what it means |\n|---|---|---|---:|---:|---:|---|\n"
        );
        for r in rows {
            s += &format!(
                "| {} | {} | {} | {} | {} – {} | {} | {} |\n",
                r["section"].as_str().unwrap_or(""),
                r["title"].as_str().unwrap_or(""),
                r["metric"].as_str().unwrap_or(""),
                fmt_pct(&r["value"]),
                fmt_pct(&r["ci_low"]),
                fmt_pct(&r["ci_high"]),
                r["n"],
                r["meaning"].as_str().unwrap_or("")
            );
        }
        s += "\n";
    }
    s += &format!("> {}\n", report["caveat"].as_str().unwrap_or(""));
    s
}
