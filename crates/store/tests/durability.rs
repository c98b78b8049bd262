//! What `--resume` relies on: everything acknowledged is still there after the process goes
//! away, whether it closed the store, dropped it, or was killed.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{failed_sample, new_run, ok_sample};
use emmental_store::{RunStatus, Store};
use serde_json::json;

#[tokio::test]
async fn reopening_the_file_keeps_runs_samples_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let summary = json!({"accuracy": 0.5});
    let request = json!({"prompt": "hi"});
    let response = json!({"text": "hello"});

    let store = Store::open(&path).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();
    store
        .put_sample(&ok_sample("r1", "t", "s1", 0))
        .await
        .unwrap();
    store
        .put_sample(&failed_sample("r1", "t", "s2", 0))
        .await
        .unwrap();
    store
        .set_run_status("r1", RunStatus::Cancelled, Some(&summary))
        .await
        .unwrap();
    store
        .cache_put("k", "m", &request, &response)
        .await
        .unwrap();
    let run_before = store.run("r1").await.unwrap().unwrap();
    let samples_before = store.samples("r1").await.unwrap();
    // Dropped without `close`, as a process that returns from main does.
    drop(store);

    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.run("r1").await.unwrap(), Some(run_before));
    assert_eq!(store.samples("r1").await.unwrap(), samples_before);
    assert_eq!(store.finished_keys("r1").await.unwrap().len(), 1);
    assert_eq!(store.cache_get("k").await.unwrap(), Some(response));

    // And the resumed run goes on writing.
    store
        .set_run_status("r1", RunStatus::Running, None)
        .await
        .unwrap();
    store
        .put_sample(&ok_sample("r1", "t", "s2", 0))
        .await
        .unwrap();
    assert_eq!(store.finished_keys("r1").await.unwrap().len(), 2);
}

/// Set in the child process: the path of the store it writes to.
const WRITER_ENV: &str = "EMMENTAL_STORE_TEST_KILLED_WRITER";
const TEST_NAME: &str = "sigkill_right_after_acknowledged_writes_loses_none";
/// Acknowledgements the parent waits for before killing the writer.
const KILL_AFTER: usize = 300;
/// Concurrent writer tasks in the child, so the kill lands while writes are queued and in flight.
const WRITERS: u32 = 8;
/// Upper bound on the child's writes, so it stops by itself if the kill never comes.
const WRITES_PER_WRITER: u32 = 20_000;

/// The child: writes samples from several tasks and prints `ACK task sample epoch` for each
/// write as soon as `put_sample` has returned.
async fn act_as_killed_writer(path: &Path) {
    let store = Store::open(path).await.expect("child opens the store");
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let task = format!("task-{w}");
                for i in 0..WRITES_PER_WRITER {
                    let sample = format!("s{i:05}");
                    store
                        .put_sample(&ok_sample("r1", &task, &sample, 0))
                        .await
                        .expect("child write");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {task} {sample} 0").expect("stdout");
                    out.flush().expect("stdout");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("child writer task");
    }
}

#[test]
fn sigkill_right_after_acknowledged_writes_loses_none() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(path) = std::env::var_os(WRITER_ENV) {
        runtime.block_on(act_as_killed_writer(Path::new(&path)));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    runtime.block_on(async {
        let store = Store::open(&path).await.unwrap();
        store.create_run(&new_run("r1")).await.unwrap();
        store.close().await;
    });

    // Re-run this very test in a child process, which acts as the writer.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = HashSet::new();
    while acknowledged.len() < KILL_AFTER {
        let Some(line) = lines.next() else {
            panic!(
                "writer exited after {} acknowledgements, before the kill",
                acknowledged.len()
            );
        };
        if let Some(key) = parse_ack(&line.unwrap()) {
            acknowledged.insert(key);
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no close, no checkpoint.
    // Lines the child printed before it died were acknowledged too.
    for line in lines {
        if let Some(key) = parse_ack(&line.unwrap()) {
            acknowledged.insert(key);
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "writer was killed, not finished: {status:?}"
    );

    let total = (WRITERS * WRITES_PER_WRITER) as usize;
    assert!(
        acknowledged.len() < total,
        "the kill came before the writer finished"
    );
    runtime.block_on(async {
        let store = Store::open(&path).await.expect("reopen after SIGKILL");
        let stored = store.finished_keys("r1").await.unwrap();
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            acknowledged.len(),
            &lost[..lost.len().min(5)]
        );

        let pool = common::raw_pool(&path).await;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
        pool.close().await;

        // The interrupted run resumes: writing goes on in the same file.
        store
            .put_sample(&ok_sample("r1", "resumed", "s0", 0))
            .await
            .unwrap();
        assert_eq!(
            store.finished_keys("r1").await.unwrap().len(),
            stored.len() + 1
        );
    });
}

fn parse_ack(line: &str) -> Option<(String, String, u32)> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let task = parts.next()?.to_owned();
    let sample = parts.next()?.to_owned();
    let epoch = parts.next()?.parse().ok()?;
    Some((task, sample, epoch))
}
