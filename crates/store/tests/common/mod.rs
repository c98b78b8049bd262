//! Helpers shared by the store's integration tests. Every test uses a real SQLite file in a
//! temporary directory.
#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;

use emmental_store::{NewRun, SampleRow};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

pub fn new_run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        model: "smollm2-135m".into(),
        tasks: vec!["capability.arithmetic".into(), "misuse.phishing".into()],
        config: json!({"epochs": 2, "solver": {"id": "generate", "args": {"max_tokens": 64}}}),
    }
}

pub fn ok_sample(run_id: &str, task: &str, sample: &str, epoch: u32) -> SampleRow {
    SampleRow {
        run_id: run_id.into(),
        task: task.into(),
        sample: sample.into(),
        epoch,
        record: json!({"input": format!("question {sample}"), "output": "42"}),
        score: Some(1.0),
        error: None,
    }
}

pub fn failed_sample(run_id: &str, task: &str, sample: &str, epoch: u32) -> SampleRow {
    SampleRow {
        record: json!({"input": format!("question {sample}")}),
        score: None,
        error: Some("model timed out after 30 s".into()),
        ..ok_sample(run_id, task, sample, epoch)
    }
}

/// A plain connection to the file, bypassing the store, to look at or tamper with what it wrote.
pub async fn raw_pool(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection to the store file")
}

/// The names of this process's threads (Linux).
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}
